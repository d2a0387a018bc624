//! The processor around the tracker: lifecycle, config checks, what passes through and when.

use std::time::SystemTime;

use spider_collector::config::GoDuration;
use spider_collector::records::{Batch, RecordKind};
use spider_collector::{ComponentConfig, Factory, Processor, conformance};
use spider_processor_session::{SESSION_PROCESSOR, SessionConfig, sequence};

use crate::wire::{ACK, Conn, PSH};

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(SESSION_PROCESSOR, SessionConfig::default()).await;
}

#[test]
fn inconsistent_limits_are_refused_by_path() {
    let config = SessionConfig {
        idle_timeout: GoDuration::from_millis(1),
        close_linger: GoDuration::from_secs(1),
        max_sessions: 1,
        max_session_buffer: 1 << 20,
        max_buffered_bytes: 1024,
        ..SessionConfig::default()
    };
    let paths: Vec<String> = config.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "idle_timeout",
            "close_linger",
            "max_sessions",
            "max_buffered_bytes"
        ]
    );
}

fn kinds(batches: &[Batch]) -> Vec<(RecordKind, usize)> {
    batches.iter().map(|b| (b.kind(), b.len())).collect()
}

async fn processor(config: SessionConfig) -> Box<dyn Processor> {
    let context = conformance::context(&SESSION_PROCESSOR);
    SESSION_PROCESSOR.create(config, context).unwrap()
}

#[tokio::test]
async fn quiet_ticks_move_the_clock_on_by_the_quiet_time_once() {
    // A live capture that pauses 1.8 s, ticked every 0.6 s, with a 2 s idle timeout: the session
    // must stay one. Adding each tick's quiet time to the clock the last tick left made it
    // 0.6 + 1.2 + 1.8 = 3.6 s, and cut the session in two.
    let config = SessionConfig {
        idle_timeout: GoDuration::from_secs(2),
        close_linger: GoDuration::from_millis(100),
        ..SessionConfig::default()
    };
    let mut processor = processor(config).await;
    let mut conn = Conn::new(44_100, 1, 2);
    conn.now = spider_collector::records::Timestamp::now().as_micros();
    let mut out = Vec::new();
    let request = b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n";
    let mut first = conn.handshake();
    first.push(conn.send(true, ACK | PSH, request));
    processor
        .process(Batch::Packets(first), &mut out)
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        processor.tick(SystemTime::now(), &mut out).await.unwrap();
    }
    conn.now = spider_collector::records::Timestamp::now().as_micros();
    let mut rest = vec![conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    )];
    rest.extend(conn.close());
    processor
        .process(Batch::Packets(rest), &mut out)
        .await
        .unwrap();
    processor.shutdown(&mut out).await.unwrap();
    let sessions: Vec<_> = out
        .iter()
        .filter_map(|batch| match batch {
            Batch::TcpSessions(sessions) => Some(sessions.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(
        sessions[0].packets_to_server + sessions[0].packets_to_client,
        8
    );
}

#[tokio::test]
async fn packets_pass_labelled_and_records_leave_when_sessions_end() {
    let mut conn = Conn::new(44_000, 1, 2);
    let mut packets = conn.handshake();
    packets.push(conn.send(
        true,
        ACK | PSH,
        b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n",
    ));
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ));
    let mut processor = processor(SessionConfig::default()).await;
    let mut out = Vec::new();
    processor
        .process(Batch::Packets(packets), &mut out)
        .await
        .unwrap();
    assert_eq!(
        kinds(&out),
        [
            (RecordKind::Host, 1),
            (RecordKind::Packet, 5),
            (RecordKind::Http, 1)
        ],
        "the name learnt goes first, for enrichment"
    );
    let Batch::Packets(labelled) = &out[1] else {
        unreachable!()
    };
    assert!(
        labelled.iter().all(
            |p| p.session_id == labelled[0].session_id && p.session_id.map(sequence) == Some(0)
        )
    );
    out.clear();
    processor.tick(SystemTime::now(), &mut out).await.unwrap();
    assert_eq!(
        kinds(&out),
        [],
        "the session is still open, and its name went out already"
    );
    // Seen again, a known name waits for the next flush rather than going out per batch.
    let again = vec![
        conn.send(
            true,
            ACK | PSH,
            b"GET /again HTTP/1.1\r\nHost: web.example\r\n\r\n",
        ),
        conn.send(
            false,
            ACK | PSH,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    processor
        .process(Batch::Packets(again), &mut out)
        .await
        .unwrap();
    assert_eq!(
        kinds(&out),
        [(RecordKind::Packet, 2), (RecordKind::Http, 1)]
    );
    out.clear();
    processor.tick(SystemTime::now(), &mut out).await.unwrap();
    assert_eq!(kinds(&out), [(RecordKind::Host, 1)]);
    out.clear();
    processor.shutdown(&mut out).await.unwrap();
    assert_eq!(kinds(&out), [(RecordKind::TcpSession, 1)]);
}

#[tokio::test]
async fn without_emit_packets_only_the_derived_records_leave_and_other_kinds_pass() {
    let config = SessionConfig {
        emit_packets: false,
        ..SessionConfig::default()
    };
    let mut processor = processor(config).await;
    let mut conn = Conn::new(44_001, 1, 2);
    let mut out = Vec::new();
    processor
        .process(Batch::Packets(conn.handshake()), &mut out)
        .await
        .unwrap();
    processor
        .process(Batch::Hosts(Vec::new()), &mut out)
        .await
        .unwrap();
    assert_eq!(kinds(&out), [(RecordKind::Host, 0)]);
}
