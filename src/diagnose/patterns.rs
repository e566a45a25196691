//! The log and message patterns an SRE scans for, each pointing at a category with a weight.
//! Patterns describe failure *shapes* (a refused connection, a missing env var, a heap limit),
//! never particular applications.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::taxonomy::Category;

/// A compiled pattern.
pub struct LinePattern {
    /// What it detects, for the summary.
    pub label: &'static str,
    /// The category it points at.
    pub category: Category,
    /// How strongly.
    pub weight: f64,
    /// The expression.
    pub regex: Regex,
}

fn compile(list: &[(&'static str, Category, f64, &str)]) -> Vec<LinePattern> {
    list.iter()
        .map(|(label, category, weight, pattern)| LinePattern {
            label,
            category: *category,
            weight: *weight,
            regex: Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {label}: {e}")),
        })
        .collect()
}

/// Patterns over container log lines. Order matters only for ties: the first match of the
/// highest weight wins for a line.
pub static LOG_PATTERNS: LazyLock<Vec<LinePattern>> = LazyLock::new(|| {
    use Category::{AppCrash, ConfigMissing, DependencyUnavailable, OomKilled, PermissionDenied};
    compile(&[
        (
            "out of memory",
            OomKilled,
            0.75,
            r"(?i)java\.lang\.OutOfMemoryError|JavaScript heap out of memory|Reached heap limit|\bMemoryError\b|runtime: out of memory|fatal error: out of memory|Cannot allocate memory|std::bad_alloc|memory allocation of \d+ bytes failed|OOMKilled",
        ),
        (
            "missing environment variable",
            ConfigMissing,
            0.8,
            r"(?i)(env(ironment)?[ _-]?var(iable)?s?\b.{0,60}\b(not set|is not defined|missing|required|undefined|empty|unset)|(required|missing|undefined)\b.{0,30}\benv(ironment)?[ _-]?var(iable)?|must be set|is required but (was )?not (set|provided)|could not resolve placeholder|KeyError: '[A-Z][A-Z0-9_]{2,}'|os\.environ\[|getenv.{0,40}(empty|missing|not set)|missing required (config|configuration|setting|key|property))|required key \S+ missing value",
        ),
        (
            "missing config file or key",
            ConfigMissing,
            0.7,
            r"(?i)(no such file or directory|FileNotFoundError|ENOENT|cannot find|could not (open|read|load|find)).{0,80}\.(ya?ml|json|conf|cfg|ini|toml|properties|env)\b|(config(uration)?|secret|credential)s? (file )?(not found|missing|is missing)|configmap .{0,40}not found|\.(ya?ml|json|conf|cfg|ini|toml|properties|env):? no such file or directory|validation errors? for \w*(Settings|Config)\b",
        ),
        (
            "permission denied",
            PermissionDenied,
            0.8,
            r"(?i)permission denied|\bEACCES\b|operation not permitted|\bEPERM\b|read-only file system|\bEROFS\b|access denied for|AccessDenied|\bAccess Denied\b|not authorized to perform|does not have .{0,80} access|PERMISSION_DENIED|code = PermissionDenied|AuthorizationFailed",
        ),
        (
            "RBAC forbidden",
            PermissionDenied,
            0.9,
            r#"(?i)is forbidden: User "[^"]+" cannot|cannot (get|list|watch|create|update|patch|delete) resource|\bforbidden\b.{0,80}\bserviceaccount\b|RBAC: access denied"#,
        ),
        (
            "connection refused",
            DependencyUnavailable,
            0.75,
            r"(?i)connection refused|\bECONNREFUSED\b|ConnectException|Connection reset by peer|\bECONNRESET\b|could not connect to (server|database|redis|the database)|Communications link failure|failed to connect to|unable to connect to|can't connect to|Cannot connect to|no route to host|\bEHOSTUNREACH\b|network is unreachable|Connection to \S+ refused|could not be established|Broker may not be available|run out of available brokers|AMQPConnectionError|ServerSelectionTimeoutError|NoNodesAvailable|No living connections|NoRouteToHost|Failed to establish a new connection|socket hang up",
        ),
        (
            "name resolution failed",
            DependencyUnavailable,
            0.8,
            r"(?i)no such host|getaddrinfo (ENOTFOUND|EAI_AGAIN)|Name or service not known|Temporary failure in name resolution|UnknownHostException|could not translate host name|nodename nor servname|server misbehaving|NXDOMAIN|Could not resolve host|name resolver error|produced zero addresses",
        ),
        (
            "upstream unavailable or not trusted",
            DependencyUnavailable,
            0.7,
            r"(?i)code = Unavailable|StatusRuntimeException: UNAVAILABLE|StatusCode\.UNAVAILABLE|x509: |tls: (handshake failure|failed to verify|bad certificate)|SSLHandshakeException|CERTIFICATE_VERIFY_FAILED|unable to verify the first certificate|self[- ]signed certificate|certificate has expired|PKIX path building failed",
        ),
        (
            "upstream timeout",
            DependencyUnavailable,
            0.6,
            r"(?i)(dial tcp|connect|connection|upstream|request to|timed? ?out (while|waiting|after)).{0,80}(i/o timeout|timed out|timeout exceeded|deadline exceeded)|\bETIMEDOUT\b|context deadline exceeded|Client\.Timeout exceeded|\bi/o timeout\b|upstream connect error|upstream (timed out|unavailable)|503 Service Unavailable|circuit breaker (is )?open|SocketTimeoutException|HikariPool.{0,40}(Connection is not available|timed out)|OperationalError|(returned|responded with|received|got)( an?)?( HTTP)?( status)?( code)? 5\d\d\b|\b50[24] (Bad Gateway|Gateway Time-?out)\b|QueuePool limit|too many clients|too many connections|remaining connection slots are reserved|connection pool (exhausted|is full)|pool exhausted",
        ),
        (
            "Go panic",
            AppCrash,
            0.6,
            r"^panic: |^fatal error: |goroutine \d+ \[running\]|invalid memory address or nil pointer dereference|SIGSEGV",
        ),
        (
            "unhandled exception",
            AppCrash,
            0.55,
            r"(?i)Traceback \(most recent call last\)|Exception in thread|Unhandled(PromiseRejection| exception| rejection)|uncaught exception|\b[A-Z][A-Za-z]+(Error|Exception): |segmentation fault|core dumped|\bFATAL\b|process exited with|exiting with (status|code) [1-9]|Application run failed",
        ),
    ])
});

/// Patterns over event messages and container state messages.
pub static MESSAGE_PATTERNS: LazyLock<Vec<LinePattern>> = LazyLock::new(|| {
    use Category::{
        ConfigMissing, ImagePull, NodeFailure, OomKilled, PermissionDenied, ProbeFailure,
        QuotaExceeded, Unschedulable, VolumeFailure,
    };
    compile(&[
        (
            "exceeded quota",
            QuotaExceeded,
            1.0,
            r"(?i)exceeded quota|forbidden: .{0,60}quota|must specify (limits|requests)\.(cpu|memory) for",
        ),
        (
            "LimitRange rejection",
            QuotaExceeded,
            0.95,
            r"(?i)(maximum|minimum) (memory|cpu|storage|ephemeral-storage) usage per (Container|Pod|PersistentVolumeClaim)|(limit|request) to (request|limit) ratio|must be (less|greater) than or equal to (memory|cpu) (limit|request)",
        ),
        (
            "image pull failure",
            ImagePull,
            1.0,
            r"(?i)failed to pull (and unpack )?image|ErrImagePull|ImagePullBackOff|InvalidImageName|pull access denied|manifest (for .{0,80})?(unknown|not found)|repository does not exist|not found: manifest|failed to resolve reference|unauthorized: authentication required|401 Unauthorized|x509: certificate.{0,40}registry|ErrImageNeverPull",
        ),
        (
            "missing config",
            ConfigMissing,
            1.0,
            r#"(?i)(configmaps?|secrets?) "[^"]+" not found|couldn't find key \S+ in (ConfigMap|Secret)|CreateContainerConfigError|key \S+ not found in (configmap|secret)|error looking up service account|serviceaccount "[^"]+" not found"#,
        ),
        (
            "unbound claim",
            VolumeFailure,
            0.95,
            r#"(?i)unbound (immediate )?PersistentVolumeClaims|persistentvolumeclaim "[^"]+" not found|storageclass(\.storage\.k8s\.io)? "[^"]+" not found|ProvisioningFailed|failed to provision volume|waiting for a volume to be created|volume node affinity conflict"#,
        ),
        (
            "mount failure",
            VolumeFailure,
            0.95,
            r"(?i)Multi-Attach error|MountVolume\.\w+ failed|Unable to attach or mount volumes|FailedAttachVolume|AttachVolume\.Attach failed|timed out waiting for the condition.{0,40}volume|volume .{0,40} (is )?already (exclusively )?attached|failed to mount|mount failed",
        ),
        (
            "scheduling failure",
            Unschedulable,
            0.9,
            r"(?i)\d+/\d+ nodes are available|Insufficient (cpu|memory|nvidia|ephemeral-storage|pods)|untolerated taint|didn't match (Pod's )?node (affinity|selector)|didn't match pod (anti-)?affinity|node\(s\) had (taint|volume node affinity)|no nodes available to schedule",
        ),
        (
            "node not ready",
            NodeFailure,
            0.9,
            r"(?i)Kubelet stopped posting node status|node is not ready|NodeNotReady|node .{0,40} (is )?unreachable|NodeStatusUnknown|container runtime is down|PLEG is not healthy",
        ),
        (
            "node pressure",
            NodeFailure,
            0.85,
            r"(?i)The node was low on resource|EvictionThresholdMet|(disk|memory|pid) ?pressure|NodeHasDiskPressure|NodeHasInsufficientMemory|FreeDiskSpaceFailed|ImageGCFailed|evict",
        ),
        (
            "system OOM",
            OomKilled,
            0.8,
            r"(?i)OOMKilled|System OOM encountered|OOMKilling|Memory cgroup out of memory|oom-kill",
        ),
        (
            "liveness probe failed",
            ProbeFailure,
            0.75,
            r"(?i)liveness probe failed|failed (liveness|startup) probe|startup probe failed",
        ),
        (
            "readiness probe failed",
            ProbeFailure,
            0.65,
            r"(?i)readiness probe failed",
        ),
        (
            "security policy denial",
            PermissionDenied,
            0.85,
            r#"(?i)violates PodSecurity|is forbidden: unable to validate against any (pod )?security|container has runAsNonRoot and image (will run as|has non-numeric user)|forbidden: User "[^"]+" cannot|permission denied"#,
        ),
    ])
});

/// The best pattern matching `line`, if any.
pub fn classify<'a>(patterns: &'a [LinePattern], line: &str) -> Option<&'a LinePattern> {
    patterns.iter().filter(|p| p.regex.is_match(line)).fold(
        None,
        |best: Option<&LinePattern>, p| match best {
            Some(b) if b.weight >= p.weight => Some(b),
            _ => Some(p),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{LOG_PATTERNS, MESSAGE_PATTERNS, classify};
    use crate::domain::taxonomy::Category;

    fn log(line: &str) -> Option<Category> {
        classify(&LOG_PATTERNS, line).map(|p| p.category)
    }

    fn message(line: &str) -> Option<Category> {
        classify(&MESSAGE_PATTERNS, line).map(|p| p.category)
    }

    #[test]
    fn runtime_log_shapes_point_at_their_category() {
        assert_eq!(
            log("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space"),
            Some(Category::OomKilled)
        );
        assert_eq!(
            log(
                "psycopg2.OperationalError: connection to server at \"pg\" (10.0.0.3), port 5432 failed: Connection refused"
            ),
            Some(Category::DependencyUnavailable)
        );
        assert_eq!(
            log("dial tcp: lookup redis.cache.svc.cluster.local: no such host"),
            Some(Category::DependencyUnavailable)
        );
        assert_eq!(
            log("Error: required environment variable DEPLOY_ENV is not set"),
            Some(Category::ConfigMissing)
        );
        assert_eq!(
            log("mkdir() \"/var/cache/nginx/client_temp\" failed (13: Permission denied)"),
            Some(Category::PermissionDenied)
        );
        assert_eq!(
            log("panic: runtime error: invalid memory address or nil pointer dereference"),
            Some(Category::AppCrash)
        );
        assert_eq!(log("INFO started in 3.2s"), None);
    }

    #[test]
    fn kubelet_and_controller_messages_point_at_their_category() {
        assert_eq!(
            message(
                "pods \"web-1\" is forbidden: exceeded quota: compute, requested: requests.memory=512Mi"
            ),
            Some(Category::QuotaExceeded)
        );
        assert_eq!(
            message("Failed to pull image \"shop/api:v9\": rpc error: code = NotFound"),
            Some(Category::ImagePull)
        );
        assert_eq!(
            message("Error: configmap \"api-config\" not found"),
            Some(Category::ConfigMissing)
        );
        assert_eq!(
            message("0/3 nodes are available: 3 Insufficient cpu."),
            Some(Category::Unschedulable)
        );
        assert_eq!(
            message("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."),
            Some(Category::VolumeFailure)
        );
        assert_eq!(
            message("Readiness probe failed: HTTP probe failed with statuscode: 503"),
            Some(Category::ProbeFailure)
        );
    }

    /// How common clients and runtimes report each failure family, as they print it.
    const FAMILIES: &[(Category, &str)] = &[
        (
            Category::DependencyUnavailable,
            "com.zaxxer.hikari.pool.HikariPool$PoolInitializationException: Failed to initialize pool: Connection to postgres.db.svc:5432 refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.",
        ),
        (
            Category::DependencyUnavailable,
            "org.springframework.data.redis.RedisConnectionFailureException: Unable to connect to Redis",
        ),
        (
            Category::DependencyUnavailable,
            "redis.exceptions.ConnectionError: Error 111 connecting to redis-master:6379. Connection refused.",
        ),
        (
            Category::DependencyUnavailable,
            "io.grpc.StatusRuntimeException: UNAVAILABLE: io exception",
        ),
        (
            Category::DependencyUnavailable,
            r#"rpc error: code = Unavailable desc = name resolver error: produced zero addresses"#,
        ),
        (
            Category::DependencyUnavailable,
            "[Consumer clientId=orders-1, groupId=orders] Connection to node -1 (kafka-0.kafka:9092) could not be established. Broker may not be available.",
        ),
        (
            Category::DependencyUnavailable,
            "kafka: client has run out of available brokers to talk to: dial tcp 10.0.3.4:9092: connect: connection refused",
        ),
        (
            Category::DependencyUnavailable,
            "pika.exceptions.AMQPConnectionError: Connection to 10.0.2.9:5672 failed: [Errno 111] Connection refused",
        ),
        (
            Category::DependencyUnavailable,
            "Post \"https://payments.internal/v1/charge\": x509: certificate signed by unknown authority",
        ),
        (
            Category::DependencyUnavailable,
            "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path to requested target",
        ),
        (
            Category::DependencyUnavailable,
            "Error: unable to verify the first certificate",
        ),
        (
            Category::DependencyUnavailable,
            "requests.exceptions.SSLError: HTTPSConnectionPool(host='api.vendor.com', port=443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')))",
        ),
        (
            Category::DependencyUnavailable,
            "upstream service pricing returned 503 Service Unavailable",
        ),
        (
            Category::DependencyUnavailable,
            "call to inventory failed: upstream responded with status 502",
        ),
        (
            Category::DependencyUnavailable,
            "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
        ),
        (
            Category::DependencyUnavailable,
            "pq: sorry, too many clients already",
        ),
        (
            Category::DependencyUnavailable,
            "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
        ),
        (
            Category::DependencyUnavailable,
            "curl: (6) Could not resolve host: artifacts.internal",
        ),
        (
            Category::DependencyUnavailable,
            "curl: (28) Connection timed out after 10001 milliseconds",
        ),
        (
            Category::DependencyUnavailable,
            "pymongo.errors.ServerSelectionTimeoutError: mongo-0.mongo:27017: [Errno 111] Connection refused",
        ),
        (Category::DependencyUnavailable, "Error: socket hang up"),
        (
            Category::DependencyUnavailable,
            "java.net.NoRouteToHostException: No route to host (Host unreachable)",
        ),
        (
            Category::DependencyUnavailable,
            "requests.exceptions.ConnectionError: HTTPConnectionPool(host='auth', port=80): Max retries exceeded with url: /token (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to establish a new connection: [Errno 111] Connection refused'))",
        ),
        (
            Category::PermissionDenied,
            "software.amazon.awssdk.services.s3.model.S3Exception: Access Denied (Service: S3, Status Code: 403, Request ID: 7QX1)",
        ),
        (
            Category::PermissionDenied,
            "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::1234:assumed-role/app/x is not authorized to perform: secretsmanager:GetSecretValue",
        ),
        (
            Category::PermissionDenied,
            "googleapi: Error 403: app@proj.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object., forbidden",
        ),
        (
            Category::PermissionDenied,
            "rpc error: code = PermissionDenied desc = Permission 'secretmanager.versions.access' denied",
        ),
        (
            Category::PermissionDenied,
            "Error: EACCES: permission denied, open '/data/cache/index.db'",
        ),
        (
            Category::ConfigMissing,
            "required key DATABASE_URL missing value",
        ),
        (
            Category::ConfigMissing,
            "open /etc/app/config.yaml: no such file or directory",
        ),
        (
            Category::ConfigMissing,
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings",
        ),
        (
            Category::ConfigMissing,
            "Error: Missing required env var: STRIPE_API_KEY",
        ),
        (Category::OomKilled, "fatal error: runtime: out of memory"),
        (
            Category::OomKilled,
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
        ),
        (Category::OomKilled, "java.lang.OutOfMemoryError: Metaspace"),
    ];

    #[test]
    fn common_clients_and_runtimes_are_read_into_their_family() {
        let missed: Vec<String> = FAMILIES
            .iter()
            .filter(|(category, line)| log(line) != Some(*category))
            .map(|(category, line)| format!("{category}: {line} → {:?}", log(line)))
            .collect();
        assert!(missed.is_empty(), "{}", missed.join("\n"));
    }
}
