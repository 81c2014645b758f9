//! Stop: dropping the stream closes the provider connection at once.

use std::time::Duration;

use engine::llm::StreamEvent;
use futures::StreamExt;
use llm::fake::Entry;

use crate::common::*;

#[tokio::test]
async fn dropping_the_stream_closes_the_connection_and_the_server_stops_sending() {
    for kind in KINDS {
        let fake = start(vec![Entry::reply("y".repeat(300)).chunks(1, 10)]).await;
        let mut stream = provider_for(kind, &fake)
            .await
            .stream(ask("hi"))
            .await
            .unwrap();
        let mut deltas = 0;
        while deltas < 3 {
            if let Some(Ok(StreamEvent::TextDelta(_))) = stream.next().await {
                deltas += 1;
            }
        }
        drop(stream);
        assert!(
            fake.wait_for_disconnects(1, Duration::from_secs(3)).await,
            "{kind:?}: server saw the close"
        );
        let sent = fake.chunks_sent();
        assert!(
            sent < 20,
            "{kind:?}: the server stopped early, sent {sent} of 300"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            fake.chunks_sent(),
            sent,
            "{kind:?}: nothing sent after the close"
        );
        assert_eq!(fake.completed(), 0);
    }
}
