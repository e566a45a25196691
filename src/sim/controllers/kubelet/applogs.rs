//! What containers write to stdout: start-up lines and failures in the style of their
//! runtime (Spring Boot with `Caused by:` traces, Go panics with goroutine traces, Python
//! Tracebacks, Node.js unhandled rejections), so log-reading diagnosis has real text.

use jiff::Timestamp;

use crate::sim::controllers::settings::Runtime;

/// `checkout` → `Checkout` (for class and module names).
fn capitalized(app: &str) -> String {
    app.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn spring_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string()
}

fn spring(t: Timestamp, level: &str, app: &str, logger: &str, text: &str) -> String {
    format!(
        "{} {level:>5} 1 --- [{app}] [           main] {logger:<40} : {text}",
        spring_time(t)
    )
}

fn version_of(image: &str) -> &str {
    image
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or("latest", |(_, tag)| tag)
}

/// Lines a container writes while starting.
pub fn startup(runtime: Runtime, app: &str, image: &str, t: Timestamp) -> String {
    let (class, version) = (capitalized(app), version_of(image));
    match runtime {
        Runtime::Jvm => [
            spring(t, "INFO", app, &format!("c.e.{app}.{class}Application"),
                &format!("Starting {class}Application v{version} using Java 21.0.5 with PID 1 (/app/app.jar started by app in /app)")),
            spring(t, "INFO", app, &format!("c.e.{app}.{class}Application"),
                "The following 1 profile is active: \"production\""),
            spring(t, "INFO", app, "o.s.b.w.embedded.tomcat.TomcatWebServer",
                "Tomcat initialized with port 8080 (http)"),
        ]
        .join("\n"),
        Runtime::Go => format!(
            "{{\"level\":\"info\",\"ts\":\"{}\",\"msg\":\"starting {app}\",\"version\":\"{version}\",\"go\":\"go1.23.4\"}}",
            spring_time(t)
        ),
        Runtime::Python => format!(
            "[{}] [1] [INFO] Starting gunicorn 23.0.0\n[{}] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)\n\
             [{}] [1] [INFO] Using worker: uvicorn.workers.UvicornWorker",
            t.strftime("%Y-%m-%d %H:%M:%S +0000"),
            t.strftime("%Y-%m-%d %H:%M:%S +0000"),
            t.strftime("%Y-%m-%d %H:%M:%S +0000")
        ),
        Runtime::Node => format!("> {app}@{version} start\n> node src/index.js\n"),
        Runtime::Generic => format!("{app} {version} starting"),
    }
}

/// The line a healthy container writes once it serves.
pub fn serving(runtime: Runtime, app: &str, t: Timestamp) -> String {
    let class = capitalized(app);
    match runtime {
        Runtime::Jvm => [
            spring(
                t,
                "INFO",
                app,
                "o.s.b.w.embedded.tomcat.TomcatWebServer",
                "Tomcat started on port 8080 (http) with context path '/'",
            ),
            spring(
                t,
                "INFO",
                app,
                &format!("c.e.{app}.{class}Application"),
                &format!("Started {class}Application in 4.213 seconds (process running for 4.871)"),
            ),
        ]
        .join("\n"),
        Runtime::Go => format!(
            "{{\"level\":\"info\",\"ts\":\"{}\",\"msg\":\"listening\",\"addr\":\":8080\"}}",
            spring_time(t)
        ),
        Runtime::Python => format!(
            "[{}] [7] [INFO] Application startup complete.",
            t.strftime("%Y-%m-%d %H:%M:%S +0000")
        ),
        Runtime::Node => format!("{app} listening on port 3000"),
        Runtime::Generic => format!("{app} ready, listening on :8080"),
    }
}

/// The lines a crashing container writes as it dies.
pub fn crash(runtime: Runtime, app: &str, message: &str, t: Timestamp) -> String {
    let class = capitalized(app);
    match runtime {
        Runtime::Jvm => jvm_crash(app, &class, message, t),
        Runtime::Go => format!(
            "panic: {message}\n\ngoroutine 1 [running]:\nmain.mustEnv(...)\n\t/src/cmd/{app}/config.go:41\n\
             main.loadConfig()\n\t/src/cmd/{app}/config.go:18 +0x1a5\nmain.main()\n\t/src/cmd/{app}/main.go:23 +0x45"
        ),
        Runtime::Python => format!(
            "Traceback (most recent call last):\n  File \"/app/{app}/main.py\", line 12, in <module>\n    \
             settings = load_settings()\n  File \"/app/{app}/settings.py\", line 31, in load_settings\n    \
             raise RuntimeError(\"{message}\")\nRuntimeError: {message}"
        ),
        Runtime::Node => format!(
            "node:internal/process/promises:391\n    triggerUncaughtException(err, true /* fromPromise */);\n    ^\n\n\
             Error: {message}\n    at loadConfig (/app/src/config.js:14:11)\n    at main (/app/src/index.js:8:18)\n\n\
             Node.js v20.18.0"
        ),
        Runtime::Generic => format!("fatal: {message}"),
    }
}

fn jvm_crash(app: &str, class: &str, message: &str, t: Timestamp) -> String {
    let bean = format!("{}Client", app.split('-').next().unwrap_or(app));
    let bean_class = format!("com.example.{app}.{}", capitalized(&bean));
    [
        spring(t, "WARN", app, "ConfigServletWebServerApplicationContext",
            &format!("Exception encountered during context initialization - cancelling refresh attempt: \
                      org.springframework.beans.factory.BeanCreationException: Error creating bean with name '{bean}': {message}")),
        spring(t, "INFO", app, "o.apache.catalina.core.StandardService", "Stopping service [Tomcat]"),
        spring(t, "ERROR", app, "o.s.boot.SpringApplication", "Application run failed"),
        String::new(),
        format!("org.springframework.beans.factory.BeanCreationException: Error creating bean with name '{bean}' \
                 defined in URL [jar:nested:/app/app.jar/!BOOT-INF/classes/!/com/example/{app}/{}.class]: \
                 Failed to instantiate [{bean_class}]: Constructor threw exception", capitalized(&bean)),
        "\tat org.springframework.beans.factory.support.ConstructorResolver.instantiate(ConstructorResolver.java:318)".into(),
        "\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.createBean(AbstractAutowireCapableBeanFactory.java:522)".into(),
        "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:335)".into(),
        format!("\tat com.example.{app}.{class}Application.main({class}Application.java:12)"),
        format!("Caused by: java.lang.IllegalStateException: {message}"),
        format!("\tat {bean_class}.<init>({}.java:42)", capitalized(&bean)),
        "\tat java.base/jdk.internal.reflect.DirectConstructorHandleAccessor.newInstance(DirectConstructorHandleAccessor.java:62)".into(),
        "\t... 24 common frames omitted".into(),
    ]
    .join("\n")
}

/// The last lines of a container the kernel kills for memory (the process gets no say).
pub fn oom(runtime: Runtime, app: &str, t: Timestamp) -> String {
    match runtime {
        Runtime::Jvm => spring(
            t,
            "WARN",
            app,
            "o.s.b.a.cache.CacheManagerCustomizers",
            "Cache 'orders' is 97% full; eviction is falling behind",
        ),
        Runtime::Go => format!(
            "{{\"level\":\"warn\",\"msg\":\"heap usage high\",\"heap_mb\":1980,\"app\":\"{app}\"}}"
        ),
        _ => format!("{app}: processing batch 4812 (2031 MB resident)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jvm_crash_ends_with_the_cause_and_its_frames() {
        let t: Timestamp = "2026-11-20T02:13:00Z".parse().expect("time");
        let log = crash(
            Runtime::Jvm,
            "checkout",
            "missing required environment variable PAYMENT_GATEWAY_URL",
            t,
        );
        assert!(log.contains("Application run failed"));
        assert!(log.contains("Caused by: java.lang.IllegalStateException: missing required environment variable PAYMENT_GATEWAY_URL"));
        assert!(log.starts_with("2026-11-20T02:13:00.000Z  WARN 1 --- [checkout]"));
    }

    #[test]
    fn go_and_python_failures_look_like_their_runtimes() {
        let t = Timestamp::UNIX_EPOCH;
        assert!(
            crash(Runtime::Go, "api", "boom", t)
                .starts_with("panic: boom\n\ngoroutine 1 [running]:")
        );
        assert!(crash(Runtime::Python, "api", "boom", t).ends_with("RuntimeError: boom"));
        assert!(crash(Runtime::Node, "api", "boom", t).contains("Error: boom\n    at loadConfig"));
    }
}
