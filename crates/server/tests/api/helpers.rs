//! `TestApp`: the real server on an ephemeral port, a client with a cookie
//! jar, and one small method per endpoint the tests use.

use std::net::SocketAddr;

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each listed scenario `async fn name(app: TestApp)` as a test on
/// SQLite and one on PostgreSQL; `flags = [...]` adds `serve` flags.
#[macro_export]
macro_rules! on_both_backends {
    (flags = $flags:tt; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let app = $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Sqlite, &$flags).await;
                super::$name(app).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let app = $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Postgres, &$flags).await;
                super::$name(app).await;
            })*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(flags = []; $($name),*);
    };
}

#[derive(Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: server::Config,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub db_url: String,
    pub client: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// A stopped server's address and database.
pub struct Stopped {
    pub addr: SocketAddr,
    pub db_url: String,
    dir: tempfile::TempDir,
}

impl Stopped {
    /// Starts the server again on the same address and database.
    pub async fn start(self, flags: &[&str]) -> TestApp {
        TestApp::spawn_on(self.db_url, self.dir, flags, Some(self.addr)).await
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Starts a server; `flags` are extra `serve` flags.
    pub async fn spawn_with(backend: Backend, flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => store::test_support::fresh_sqlite_url(dir.path()),
            Backend::Postgres => store::test_support::fresh_postgres_url()
                .await
                .expect("a fresh PostgreSQL database (is PostgreSQL running on 127.0.0.1:5432?)"),
        };
        Self::spawn_at(url, dir, flags).await
    }

    /// Starts another server on this one's database (a restart, or a
    /// second instance).
    pub async fn spawn_another(&self, flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_at(self.db_url.clone(), dir, flags).await
    }

    /// Stops this server (as a deploy or a crash would), keeping its
    /// address and database for `Stopped::start`.
    pub fn stop(self) -> Stopped {
        let Self {
            addr,
            db_url,
            _shutdown,
            _dir,
            ..
        } = self;
        drop(_shutdown);
        Stopped {
            addr,
            db_url,
            dir: _dir,
        }
    }

    async fn spawn_at(url: String, dir: tempfile::TempDir, flags: &[&str]) -> Self {
        Self::spawn_on(url, dir, flags, None).await
    }

    async fn spawn_on(
        url: String,
        dir: tempfile::TempDir,
        flags: &[&str],
        at: Option<SocketAddr>,
    ) -> Self {
        let mut args = vec![
            "serve",
            "--database-url",
            url.as_str(),
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(flags);
        let config = ConfigOnly::try_parse_from(args)
            .expect("test config")
            .config;
        let state = server::build_state(config).await.expect("server state");
        let listener = match at {
            None => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            // The stopped server lets go of its port once its connections close.
            Some(addr) => {
                let started = std::time::Instant::now();
                loop {
                    match TcpListener::bind(addr).await {
                        Ok(l) => break l,
                        Err(_) if started.elapsed() < std::time::Duration::from_secs(15) => {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                        Err(e) => panic!("rebinding {addr}: {e}"),
                    }
                }
            }
        };
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            server::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            db_url: url,
            client: Self::new_client(),
            _shutdown: tx,
            _dir: dir,
        }
    }

    /// A client with its own cookie jar: another browser, sending the
    /// header FlowPilot's own pages send (cookie writes need it).
    pub fn new_client() -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-flowpilot-request",
            reqwest::header::HeaderValue::from_static("1"),
        );
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .expect("client")
    }

    /// A browser that signed in, then ran a page of another site: its
    /// cookie is sent, but not FlowPilot's request header.
    pub fn bare_client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with this app's client; `token` adds a bearer header.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        self.call_with(&self.client, method, path, body, token)
            .await
    }

    pub async fn call_with(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), None).await
    }

    /// Runs first-time setup; returns the admin user.
    pub async fn setup(&self, account: &str, email: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/setup",
                json!({"account_name": account, "name": "Ada Admin", "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Signs in with this app's client and returns the raw response (for
    /// its headers).
    pub async fn login_response(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("sent")
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Sets up and signs in as the admin; returns an API token for them.
    pub async fn admin_token(&self) -> String {
        self.setup("Acme IT", "ada@acme.test").await;
        let (status, _) = self.login("ada@acme.test", PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        self.create_token(None, "tests").await
    }

    /// Creates a token for whoever `bearer` (or the cookie) is.
    pub async fn create_token(&self, bearer: Option<&str>, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": name})),
                bearer,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates a user with `admin_bearer` and returns a token for them,
    /// signing them in on a separate client.
    pub async fn user_token(&self, admin_bearer: &str, email: &str, role: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/users",
                Some(json!({"email": email, "name": "Eve Engineer", "password": PASSWORD, "role": role})),
                Some(admin_bearer),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.sign_in_elsewhere(email).await
    }
}

impl TestApp {
    /// Creates another account (as `flowpilot account create` does) with
    /// its admin, and returns a token for that admin.
    pub async fn other_account_token(&self, account: &str, email: &str) -> String {
        let store = store::open(
            &self.db_url,
            store::OpenOptions {
                migrate: false,
                max_connections: 1,
            },
        )
        .await
        .expect("store");
        let admin = engine::accounts::UserInput {
            email,
            name: "Olga Other",
            password: PASSWORD,
            role: engine::Role::Admin,
        };
        engine::accounts::create_account(store.as_ref(), account, admin)
            .await
            .expect("second account");
        self.sign_in_elsewhere(email).await
    }

    /// Signs `email` in from another browser and returns a new API token
    /// made with that sign-in.
    async fn sign_in_elsewhere(&self, email: &str) -> String {
        let other = Self::new_client();
        let login = json!({"email": email, "password": PASSWORD});
        let (status, _) = self
            .call_with(
                &other,
                Method::POST,
                "/api/v1/auth/login",
                Some(login),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = self
            .call_with(
                &other,
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": "t"})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        body["token"].as_str().expect("token").to_owned()
    }
}
