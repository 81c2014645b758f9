//! Query and batch embedding time: `cargo bench -p embed`.

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = embed::test_model_dir().expect("the embedding model");
    let model = embed::SentenceEmbedder::load(&dir).expect("loads");
    let query = "the copier upstairs says ready but my PC thinks it's switched off";
    c.bench_function("embed one query", |b| {
        b.iter(|| model.embed_texts(&[query]).expect("embeds"))
    });
    // How the time grows with the length: a pasted error and a paragraph.
    let mut by_length = c.benchmark_group("embed one text by length");
    for (label, text) in [
        ("3 tokens", "vpn"),
        (
            "64 tokens",
            &*"outlook keeps asking for the password again ".repeat(8),
        ),
    ] {
        by_length.bench_function(label, |b| {
            b.iter(|| model.embed_texts(&[text]).expect("embeds"))
        });
    }
    by_length.finish();
    let flows: Vec<String> = (0..32)
        .map(|i| {
            format!(
                "Printer {i} shows offline although it is on. Jobs stuck in the queue. Use Printer Offline is greyed out"
            )
        })
        .collect();
    let flows: Vec<&str> = flows.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("embed flows");
    group.sample_size(20);
    group.bench_function("batch of 32", |b| {
        b.iter(|| model.embed_texts(&flows).expect("embeds"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
