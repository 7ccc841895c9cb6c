//! Tests of `events.rs`.

use super::*;

#[test]
fn timestamps_are_epoch_milliseconds() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let ms = now_ms();
    assert!(
        ms / 1000 >= secs && ms / 1000 <= secs + 1,
        "{ms} ms vs {secs} s"
    );
}

#[test]
fn a_request_event_keeps_its_field_names_and_order() {
    let mut policy = PolicyTrace::default();
    policy.extend(
        &[FiredRule {
            phase: sluice_policy::Phase::HttpRequest,
            index: 0,
            name: Some("r".into()),
        }],
        &[],
        None,
    );
    let event = Event::http_request_complete(HttpRequestComplete {
        endpoint: Some(EndpointRef {
            id: "ep".into(),
            url: "http://a.test".into(),
        }),
        conn: ClientRef::new(Some(SocketAddr::from(([127, 0, 0, 1], 5000)))),
        http: HttpExchange {
            request: RequestLine {
                method: "GET".into(),
                host: "a.test".into(),
                path: "/x?y".into(),
            },
            response: ResponseSummary {
                status_code: Some(200),
                bytes_out: 2,
            },
            duration_ms: 1.5,
        },
        error_code: None,
        policy,
        oauth: None,
    });
    let line = serde_json::to_string(&event).expect("serializes");
    let object = line.split_once(r#","object":"#).expect("object").1;
    assert!(line.starts_with(r#"{"event_type":"http_request_complete.v0","timestamp_ms":"#));
    assert_eq!(
        object,
        concat!(
            r#"{"endpoint":{"id":"ep","url":"http://a.test"},"#,
            r#""conn":{"client_ip":"127.0.0.1","client_port":5000},"#,
            r#""http":{"request":{"method":"GET","host":"a.test","path":"/x?y"},"#,
            r#""response":{"status_code":200,"bytes_out":2},"duration_ms":1.5},"#,
            r#""error_code":null,"#,
            r#""policy":{"fired":[{"phase":"on_http_request","index":0,"name":"r"}],"logs":[]}}}"#
        )
    );
}

#[test]
fn a_connection_event_keeps_its_field_names_and_order() {
    let mut policy = PolicyTrace::default();
    policy.extend(
        &[FiredRule {
            phase: sluice_policy::Phase::TcpConnect,
            index: 1,
            name: None,
        }],
        &[],
        Some("ep"),
    );
    let event = Event::tcp_connection_closed(TcpConnectionClosed {
        conn: ConnSummary {
            client_ip: "127.0.0.1".into(),
            client_port: 5000,
            server_ip: "127.0.0.1".into(),
            server_port: 443,
            tls: Some(TlsSummary::from(&TlsInfo {
                sni: Some("a.test".into()),
                ..TlsInfo::default()
            })),
            bytes_in: 1,
            bytes_out: 2,
            duration_ms: 3.0,
            requests: 4,
            close_reason: None,
        },
        endpoints: vec![ConnEndpoint {
            id: "ep".into(),
            url: "tls://a.test:443".into(),
            closed_by_policy: true,
        }],
        policy,
    });
    let line = serde_json::to_string(&event).expect("serializes");
    let object = line.split_once(r#","object":"#).expect("object").1;
    assert!(line.starts_with(r#"{"event_type":"tcp_connection_closed.v0","timestamp_ms":"#));
    assert_eq!(
        object,
        concat!(
            r#"{"conn":{"client_ip":"127.0.0.1","client_port":5000,"server_ip":"127.0.0.1","#,
            r#""server_port":443,"tls":{"sni":"a.test","version":null,"cipher_suite":null,"alpn":null},"#,
            r#""bytes_in":1,"bytes_out":2,"duration_ms":3.0,"requests":4},"#,
            r#""endpoints":[{"id":"ep","url":"tls://a.test:443","closed_by_policy":true}],"#,
            r#""policy":{"fired":[{"phase":"on_tcp_connect","index":1,"name":null,"endpoint":"ep"}],"logs":[]}}}"#
        )
    );
}
