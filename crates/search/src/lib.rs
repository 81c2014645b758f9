//! The `Retriever` port as an in-process tantivy index of every account's
//! flows. Each instance builds it from the database, one account at a time
//! on that account's first search, and before every search checks the
//! account's knowledge-base version (one indexed query): when another
//! instance (or this one) wrote flows since, it fetches just what changed
//! and applies it first. So a flow written through any instance is found
//! by the next search on every instance, and all backends rank alike.
//!
//! Ranking: BM25 over title (×3), symptoms and tags (×2) and body (×1),
//! English stemming, stop words dropped; a query word that looks like an
//! identifier (it has a digit: `0x80070005`, `AADSTS50076`, `KB5034441`,
//! event `4740`) counts four times; words of five letters or more also
//! match at edit distance 1 (nine or more: 2) at half weight in title,
//! symptoms and tags, so small typos still find their flow.
//!
//! Hybrid search (`FlowIndex::hybrid`): each flow also has a sentence
//! embedding of its title and symptoms (`engine::kb::embedding`), kept in
//! memory per account and brought up to date like the text index (one
//! query for the account's vector version). A query is embedded and every
//! vector scanned (`dense.rs`); the lexical and dense top candidates are
//! fused by a weighted sum of min-max normalised scores. Full-text keeps
//! exact identifiers strong; the embedding finds runbooks written in other
//! words than the query's.

mod dense;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use engine::Principal;
use engine::ids::{AccountId, FlowId};
use engine::kb::embedding::{Embedder, VectorStore};
use engine::kb::{Flow, FlowStore};
use engine::retrieval::{RetrievedFlow, Retriever};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use tokio::sync::Mutex;

const ANALYZER: &str = "flow_text";
/// The index writer's memory budget.
const WRITER_HEAP: usize = 50_000_000;
/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 180;
/// Candidates each side brings to a hybrid search.
pub const CANDIDATES: usize = 40;
/// The dense weight when none is set, chosen by `flowpilot kb eval --sweep`
/// on the tuning half of the users'-words set under the rule that hybrid
/// never falls below full-text search on the engineer set: 0.5–0.9 score
/// best on the tuning half (recall@3 0.935) but lose engineer queries
/// (0.5 loses one in 115); 0.4 keeps the engineer set at recall@3 1.000
/// and gives the tuning half 0.903. docs/performance.md has the sweep and
/// the test half's figures.
pub const DEFAULT_DENSE_WEIGHT: f32 = 0.4;

/// A query's vector and its nearest flows with their similarity.
type Nearest = (Vec<f32>, Vec<(FlowId, f32)>);

/// How a search ranks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Full-text (BM25) only.
    Lexical,
    /// Embedding similarity only.
    Dense,
    /// Both, fused with this weight on the dense side (0–1).
    Hybrid(f32),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    account: Field,
    slug: Field,
    title: Field,
    symptoms: Field,
    tags: Field,
    body: Field,
    resolution: Field,
}

/// Picks one field of the schema.
type Pick = fn(&Fields) -> Field;

/// Per field: how much a match counts.
const WEIGHTS: [(Pick, f32); 4] = [
    (|f| f.title, 3.0),
    (|f| f.symptoms, 2.0),
    (|f| f.tags, 2.0),
    (|f| f.body, 1.0),
];

struct Writer {
    writer: IndexWriter,
    /// The knowledge-base version each account's flows are indexed at.
    versions: HashMap<AccountId, i64>,
}

/// The index; cheap to clone.
#[derive(Clone)]
pub struct FlowIndex {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn FlowStore>,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<Writer>,
    dense: Option<Dense>,
}

/// What hybrid search adds: the model, the stored vectors, and each
/// account's vectors in memory with the version they are current at.
struct Dense {
    embedder: Arc<dyn Embedder>,
    vectors: Arc<dyn VectorStore>,
    weight: f32,
    sets: std::sync::RwLock<HashMap<AccountId, dense::VectorSet>>,
    versions: Mutex<HashMap<AccountId, i64>>,
}

/// Dense search's parts, for `FlowIndex::hybrid`.
pub struct DenseSearch {
    pub embedder: Arc<dyn Embedder>,
    pub vectors: Arc<dyn VectorStore>,
    /// Weight of the dense side in `Mode::Hybrid` (0–1).
    pub weight: f32,
}

impl FlowIndex {
    /// An empty full-text index over `store`'s flows (filled on demand).
    pub fn new(store: Arc<dyn FlowStore>) -> anyhow::Result<Self> {
        Self::build(store, None)
    }

    /// Full-text and dense search, fused (`Mode::Hybrid` with the given
    /// weight) in `Retriever::search`.
    pub fn hybrid(store: Arc<dyn FlowStore>, dense: DenseSearch) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&dense.weight),
            "the dense weight must be between 0 and 1, not {}",
            dense.weight
        );
        Self::build(
            store,
            Some(Dense {
                embedder: dense.embedder,
                vectors: dense.vectors,
                weight: dense.weight,
                sets: std::sync::RwLock::new(HashMap::new()),
                versions: Mutex::new(HashMap::new()),
            }),
        )
    }

    /// The ranking `Retriever::search` uses.
    pub fn default_mode(&self) -> Mode {
        match &self.inner.dense {
            Some(d) => Mode::Hybrid(d.weight),
            None => Mode::Lexical,
        }
    }

    /// The embedding model's identity, when searching is hybrid.
    pub fn model(&self) -> Option<&str> {
        self.inner.dense.as_ref().map(|d| d.embedder.identity())
    }

    fn build(store: Arc<dyn FlowStore>, dense: Option<Dense>) -> anyhow::Result<Self> {
        let mut schema = Schema::builder();
        let text = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let fields = Fields {
            id: schema.add_text_field("id", STRING | STORED),
            account: schema.add_text_field("account", STRING),
            slug: schema.add_text_field("slug", STRING | STORED),
            title: schema.add_text_field("title", text.clone()),
            symptoms: schema.add_text_field("symptoms", text.clone()),
            tags: schema.add_text_field("tags", text.clone()),
            body: schema.add_text_field("body", text.clone()),
            resolution: schema.add_text_field("resolution", STORED),
        };
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(
            ANALYZER,
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .filter(StopWordFilter::new(Language::English).context("the English stop words")?)
                .filter(Stemmer::new(Language::English))
                .build(),
        );
        let writer = index
            .writer(WRITER_HEAP)
            .context("creating the search index writer")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .context("opening the search index")?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                index,
                reader,
                fields,
                writer: Mutex::new(Writer {
                    writer,
                    versions: HashMap::new(),
                }),
                dense,
            }),
        })
    }

    /// Brings the account's flows up to date with the database.
    pub async fn sync(&self, account: AccountId) -> anyhow::Result<()> {
        let inner = &self.inner;
        let current = inner
            .store
            .kb_version(account)
            .await
            .context("reading the knowledge base's version")?;
        let mut w = inner.writer.lock().await;
        let indexed = w.versions.get(&account).copied();
        if indexed == Some(current) {
            return Ok(());
        }
        let changes = inner
            .store
            .flow_changes(account, indexed.unwrap_or(0))
            .await
            .context("reading what changed in the knowledge base")?;
        let f = inner.fields;
        for flow in &changes.changed {
            w.writer
                .delete_term(Term::from_field_text(f.id, &flow.id.to_string()));
            w.writer
                .add_document(document(&f, account, flow))
                .context("indexing a flow")?;
        }
        for id in &changes.deleted {
            w.writer
                .delete_term(Term::from_field_text(f.id, &id.to_string()));
        }
        if let Some(dense) = &inner.dense
            && !changes.deleted.is_empty()
            && let Ok(mut sets) = dense.sets.write()
            && let Some(set) = sets.get_mut(&account)
        {
            for id in &changes.deleted {
                set.remove(*id);
            }
        }
        w.writer.commit().context("committing the search index")?;
        inner
            .reader
            .reload()
            .context("reloading the search index")?;
        w.versions.insert(account, changes.version);
        Ok(())
    }

    /// Brings the account's vectors in memory up to date with the
    /// database (nothing without dense search).
    async fn sync_vectors(&self, account: AccountId) -> anyhow::Result<()> {
        let Some(dense) = &self.inner.dense else {
            return Ok(());
        };
        let current = dense
            .vectors
            .vector_version(account)
            .await
            .context("reading the flow vectors' version")?;
        let mut versions = dense.versions.lock().await;
        let known = versions.get(&account).copied();
        if known == Some(current) {
            return Ok(());
        }
        let changes = dense
            .vectors
            .vector_changes(account, dense.embedder.identity(), known.unwrap_or(0))
            .await
            .context("reading stored flow vectors")?;
        {
            let mut sets = dense
                .sets
                .write()
                .map_err(|_| anyhow::anyhow!("the vector set's lock was poisoned"))?;
            let set = sets
                .entry(account)
                .or_insert_with(|| dense::VectorSet::new(dense.embedder.dimensions()));
            for v in &changes.vectors {
                set.upsert(v.id, &v.vector);
            }
        }
        versions.insert(account, changes.version);
        Ok(())
    }

    /// Searches the account's flows with the given ranking (`Mode::Dense`
    /// and `Mode::Hybrid` fall back to full-text when the index has no
    /// model). What `kb eval` compares.
    pub async fn search_with(
        &self,
        account: AccountId,
        query: &str,
        limit: usize,
        mode: Mode,
    ) -> anyhow::Result<Vec<RetrievedFlow>> {
        self.sync(account).await?;
        let mode = if self.inner.dense.is_some() {
            self.sync_vectors(account).await?;
            mode
        } else {
            Mode::Lexical
        };
        let text = query.to_owned();
        let lexical = {
            let this = self.clone();
            let text = text.clone();
            let k = match mode {
                Mode::Lexical => limit,
                Mode::Dense => 0,
                Mode::Hybrid(_) => limit.max(CANDIDATES),
            };
            // Searching is CPU work: keep it off the async threads; the
            // two sides run at once.
            on_pool(move || {
                if k == 0 {
                    Ok(Vec::new())
                } else {
                    this.run(account, &text, k)
                }
            })
        };
        if mode == Mode::Lexical {
            return lexical.await?;
        }
        let nearest = {
            let this = self.clone();
            let k = limit.max(CANDIDATES);
            on_pool(move || this.nearest(account, &text, k))
        };
        let (lexical, nearest) = tokio::join!(lexical, nearest);
        let lexical = lexical??;
        let (query_vector, nearest) = match nearest? {
            Ok(found) => found,
            Err(e) => {
                // A search still answers when the model fails.
                tracing::warn!(error = %e, "embedding a query failed; answering with full-text search");
                let mut lexical = lexical;
                lexical.truncate(limit);
                return Ok(lexical);
            }
        };
        let this = self.clone();
        on_pool(move || this.combine(account, &query_vector, lexical, nearest, limit, mode)).await?
    }

    /// The query's vector and its `k` nearest flows.
    fn nearest(&self, account: AccountId, text: &str, k: usize) -> anyhow::Result<Nearest> {
        let Some(dense) = &self.inner.dense else {
            return Ok((Vec::new(), Vec::new()));
        };
        let query = dense
            .embedder
            .embed(&[text])?
            .pop()
            .context("the model returned no vector")?;
        let sets = dense
            .sets
            .read()
            .map_err(|_| anyhow::anyhow!("the vector set's lock was poisoned"))?;
        let top = sets
            .get(&account)
            .map(|set| set.top(&query, k))
            .unwrap_or_default();
        Ok((query, top))
    }

    /// Fuses (or, for `Mode::Dense`, takes) the two sides' candidates.
    fn combine(
        &self,
        account: AccountId,
        query: &[f32],
        lexical: Vec<RetrievedFlow>,
        nearest: Vec<(FlowId, f32)>,
        limit: usize,
        mode: Mode,
    ) -> anyhow::Result<Vec<RetrievedFlow>> {
        let ranked: Vec<(FlowId, f32)> = match mode {
            Mode::Hybrid(weight) => {
                let Some(dense) = &self.inner.dense else {
                    return Ok(lexical);
                };
                let sets = dense
                    .sets
                    .read()
                    .map_err(|_| anyhow::anyhow!("the vector set's lock was poisoned"))?;
                let set = sets.get(&account);
                let mut candidates: Vec<dense::Candidate> = lexical
                    .iter()
                    .map(|f| dense::Candidate {
                        id: f.id,
                        lexical: f.score as f32,
                        dense: set.and_then(|s| s.score(f.id, query)).unwrap_or(0.0),
                    })
                    .collect();
                for &(id, similarity) in &nearest {
                    if !candidates.iter().any(|c| c.id == id) {
                        candidates.push(dense::Candidate {
                            id,
                            lexical: 0.0,
                            dense: similarity,
                        });
                    }
                }
                dense::fuse(&candidates, weight)
            }
            _ => nearest,
        };
        let mut by_id: HashMap<FlowId, RetrievedFlow> =
            lexical.into_iter().map(|f| (f.id, f)).collect();
        let mut out = Vec::with_capacity(limit);
        for (id, score) in ranked {
            if out.len() == limit {
                break;
            }
            let flow = match by_id.remove(&id) {
                Some(flow) => Some(flow),
                None => self.flow_by_id(id)?,
            };
            // A vector whose flow has just been deleted finds nothing.
            if let Some(mut flow) = flow {
                flow.score = f64::from(score);
                out.push(flow);
            }
        }
        Ok(out)
    }

    /// A flow's stored fields from the index, for a dense-only hit.
    fn flow_by_id(&self, id: FlowId) -> anyhow::Result<Option<RetrievedFlow>> {
        let f = self.inner.fields;
        let searcher = self.inner.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(f.id, &id.to_string()),
            IndexRecordOption::Basic,
        );
        let top = searcher
            .search(&query, &TopDocs::with_limit(1).order_by_score())
            .context("reading a found flow")?;
        let Some((_, address)) = top.into_iter().next() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(address).context("reading a found flow")?;
        let body = stored(&doc, f.body);
        Ok(Some(RetrievedFlow {
            id,
            slug: stored(&doc, f.slug),
            title: stored(&doc, f.title),
            symptoms: stored(&doc, f.symptoms),
            snippet: first_chars(&body, SNIPPET_CHARS),
            body,
            resolution: stored(&doc, f.resolution),
            score: 0.0,
        }))
    }

    /// The query: for each word, every field at its weight; identifiers
    /// four times; longer words also fuzzily. Words are analysed as the
    /// flows were (stemmed, stop words dropped).
    fn query(&self, account: AccountId, text: &str) -> Option<Box<dyn Query>> {
        let f = &self.inner.fields;
        let mut analyzer = self.inner.index.tokenizers().get(ANALYZER)?;
        let mut words: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            if !words.contains(&token.text) {
                words.push(token.text.clone());
            }
        }
        if words.is_empty() {
            return None;
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in &words {
            let identifier = word.chars().any(|c| c.is_ascii_digit()) && word.len() >= 4;
            let strength = if identifier { 4.0 } else { 1.0 };
            let distance = match word.chars().count() {
                0..=4 => 0,
                5..=8 => 1,
                _ => 2,
            };
            for (field, weight) in WEIGHTS {
                let term = Term::from_field_text(field(f), word);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(exact), weight * strength)),
                ));
                // Not in the body: its term dictionary is by far the
                // largest, so fuzzy expansion there costs most, and a typo
                // of a word that matters is caught in title or symptoms.
                if distance > 0 && !identifier && weight > 1.0 {
                    let fuzzy = FuzzyTermQuery::new(term, distance, true);
                    clauses.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(fuzzy), weight * 0.5)),
                    ));
                }
            }
        }
        let account = TermQuery::new(
            Term::from_field_text(f.account, &account.to_string()),
            IndexRecordOption::Basic,
        );
        Some(Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(account) as Box<dyn Query>),
            (Occur::Must, Box::new(BooleanQuery::new(clauses))),
        ])))
    }

    fn run(
        &self,
        account: AccountId,
        text: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<RetrievedFlow>> {
        let Some(query) = self.query(account, text) else {
            return Ok(Vec::new());
        };
        let f = self.inner.fields;
        let searcher = self.inner.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .context("searching the knowledge base")?;
        let mut snippets =
            SnippetGenerator::create(&searcher, &*query, f.body).context("preparing snippets")?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).context("reading a found flow")?;
            let get = |field: Field| stored(&doc, field);
            let snippet = snippets.snippet_from_doc(&doc);
            let snippet = if snippet.fragment().trim().is_empty() {
                first_chars(&get(f.body), SNIPPET_CHARS)
            } else {
                snippet
                    .fragment()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let Ok(id) = get(f.id).parse::<FlowId>() else {
                continue;
            };
            out.push(RetrievedFlow {
                id,
                slug: get(f.slug),
                title: get(f.title),
                symptoms: get(f.symptoms),
                body: get(f.body),
                resolution: get(f.resolution),
                score: f64::from(score),
                snippet,
            });
        }
        Ok(out)
    }
}

/// Runs a search's CPU work on rayon's pool, the one the embedding model
/// shares its layers out on, and waits for it without holding an async
/// thread. One pool for both sides is what lets them share the cores:
/// while one thread runs the full-text side, the query's embedding finds
/// nobody to hand half a layer to and runs it itself, and when the
/// full-text side is done that thread takes its share again (on separate
/// pools both would fight for the same two cores).
async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic must come back as an error: in a job of rayon's own it
        // would abort the process.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = done.send(outcome);
    });
    match result.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => anyhow::bail!("the search failed unexpectedly (a bug: see the log)"),
        Err(_) => anyhow::bail!("the search task stopped before it finished"),
    }
}

fn stored(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn first_chars(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

fn document(f: &Fields, account: AccountId, flow: &Flow) -> TantivyDocument {
    doc!(
        f.id => flow.id.to_string(),
        f.account => account.to_string(),
        f.slug => flow.slug.to_string(),
        f.title => flow.title.clone(),
        f.symptoms => flow.symptoms.join("\n"),
        f.tags => flow.tags.join(" "),
        f.body => flow.body.clone(),
        f.resolution => flow.resolution.clone(),
    )
}

#[async_trait]
impl Retriever for FlowIndex {
    async fn search(
        &self,
        who: &Principal,
        query: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<RetrievedFlow>> {
        self.search_with(who.account_id, query, limit, self.default_mode())
            .await
    }
}
