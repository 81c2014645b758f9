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

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use engine::Principal;
use engine::ids::{AccountId, FlowId};
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
}

impl FlowIndex {
    /// An empty index over `store`'s flows (filled on demand).
    pub fn new(store: Arc<dyn FlowStore>) -> anyhow::Result<Self> {
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
        w.writer.commit().context("committing the search index")?;
        inner
            .reader
            .reload()
            .context("reloading the search index")?;
        w.versions.insert(account, changes.version);
        Ok(())
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
            let get = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
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
        self.sync(who.account_id).await?;
        let this = self.clone();
        let account = who.account_id;
        let query = query.to_owned();
        // Searching is CPU work: keep it off the async threads.
        tokio::task::spawn_blocking(move || this.run(account, &query, limit))
            .await
            .context("the search task stopped")?
    }
}
