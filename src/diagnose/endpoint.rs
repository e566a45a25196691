//! The dependency a log line says is down: the host (and port) a client library names when it
//! cannot connect, resolve or get an answer, so the summary says *what* is unreachable. Clients
//! spread that over lines (Npgsql names the host, the inner SocketException says "refused"), so
//! the caller passes the line and the few before it.

use std::sync::LazyLock;

use regex::Regex;

/// Shapes that name a remote endpoint, most specific first; group 1 is what is shown.
static SHAPES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // psycopg / libpq: connection to server at "db.svc" (10.0.0.5), port 5432 failed
        r#"(?i)server at "([^"]+)"(?: \([^)]*\))?,? port (\d+)"#,
        // Go: dial tcp: lookup kafka-0.kafka.svc on 10.96.0.10:53: no such host
        r"(?i)\blookup ([A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])\b",
        // Node: getaddrinfo ENOTFOUND redis.cache.svc
        r"(?i)\b(?:ENOTFOUND|EAI_AGAIN) ([A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])",
        // Java: java.net.UnknownHostException: kafka-0.kafka-headless
        r"UnknownHostException: ([A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])",
        // A URL's authority: http://inventory.shop.svc:8080/v2/…, redis://cache:6379
        r"(?i)\b[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?([A-Za-z0-9][A-Za-z0-9.-]*(?::\d{1,5})?)",
        // host:port or ip:port
        r"\b((?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+:\d{2,5}|\d{1,3}(?:\.\d{1,3}){3}:\d{1,5})\b",
    ]
    .iter()
    .map(|shape| Regex::new(shape).expect("static regex"))
    .collect()
});

/// The endpoint the last of `lines` (with the lines before it as context) says is down: the
/// nearest line that names one, searching from the last line backwards.
pub fn endpoint(lines: &[&str]) -> Option<String> {
    lines.iter().rev().find_map(|line| named_in(line))
}

fn named_in(line: &str) -> Option<String> {
    SHAPES.iter().find_map(|shape| {
        let captures = shape.captures(line)?;
        let host = captures.get(1)?.as_str();
        Some(match captures.get(2) {
            Some(port) => format!("{host}:{}", port.as_str()),
            None => host.to_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn the_endpoint_is_read_from_how_common_clients_report_it() {
        let cases = [
            (
                r#"psycopg2.OperationalError: connection to server at "ledger-db.finance.svc.cluster.local" (10.96.112.40), port 5432 failed: Connection refused"#,
                "ledger-db.finance.svc.cluster.local:5432",
            ),
            (
                "dial tcp: lookup redis-master.cache.svc.cluster.local on 10.96.0.10:53: no such host",
                "redis-master.cache.svc.cluster.local",
            ),
            (
                "Error: getaddrinfo ENOTFOUND payments-gateway.shop.svc",
                "payments-gateway.shop.svc",
            ),
            (
                "java.net.UnknownHostException: kafka-0.kafka-headless.streaming.svc.cluster.local",
                "kafka-0.kafka-headless.streaming.svc.cluster.local",
            ),
            (
                r#"Post "http://inventory.shop.svc.cluster.local:8080/v2/reservations": context deadline exceeded"#,
                "inventory.shop.svc.cluster.local:8080",
            ),
            (
                "Error: connect ECONNREFUSED 10.0.4.12:6379",
                "10.0.4.12:6379",
            ),
            (
                "redis://:s3cret@cache.svc:6379 unreachable",
                "cache.svc:6379",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(endpoint(&[line]).as_deref(), Some(expected), "{line}");
        }
    }

    #[test]
    fn a_client_that_names_the_host_a_line_earlier_is_read_through() {
        let lines = [
            "fail: Helpdesk.Api.Health.DatabaseHealthCheck[0]",
            "      Health check 'postgres' failed: Npgsql.NpgsqlException (0x80004005): Failed to connect to 10.43.12.7:5432",
            "       ---> System.Net.Sockets.SocketException (111): Connection refused",
        ];
        assert_eq!(endpoint(&lines).as_deref(), Some("10.43.12.7:5432"));
        assert_eq!(endpoint(&["Connection refused"]), None);
    }
}
