//! The peers a process's services call: the service itself when the process runs it, or
//! otherwise its HTTP client at the URL configured for it (its internal listener), timed
//! into the dependency metrics. A service that needs a peer nobody configured is a clear
//! error at start.

use std::sync::Arc;

use chirp_core::peers::{Directory, LateDirectory, SocialGraph, Timelines};
use chirp_core::peers_http::{HttpDirectory, HttpGraph, HttpJwks, HttpTimelines, Peer};
use chirp_core::timed::{DependencyMetrics, Timed};
use chirp_core::token::{TokenVerifier, REFETCH_AT_MOST_EVERY};

use crate::config::{Command, Settings};

pub struct Peers<'s> {
    settings: &'s Settings,
    role: Command,
    calls: DependencyMetrics,
    pub directory: Option<Arc<dyn Directory>>,
    pub graph: Option<Arc<dyn SocialGraph>>,
    pub timelines: Option<Arc<dyn Timelines>>,
    /// ReadService bound after the services that need it before it exists (the one cycle
    /// of the wiring: UserGraphService hydrates users through ReadService, which counts
    /// follows through UserGraphService).
    pub late_directory: Arc<LateDirectory>,
}

/// The client of `service` at `url`, which a process of `role` needs.
fn remote(
    url: &Option<String>,
    secret: Option<&str>,
    role: Command,
    service: &'static str,
    flag: &str,
) -> anyhow::Result<Peer> {
    let url = url.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "chirp {} needs {service}: give its address with {flag}",
            role.name()
        )
    })?;
    Peer::new(service, url, secret)
}

impl<'s> Peers<'s> {
    pub fn new(settings: &'s Settings, role: Command, calls: DependencyMetrics) -> Self {
        Peers {
            settings,
            role,
            calls,
            directory: None,
            graph: None,
            timelines: None,
            late_directory: Arc::new(LateDirectory::default()),
        }
    }

    /// The services' shared secret, for calls to their internal APIs.
    fn secret(&self) -> Option<&'s str> {
        self.settings.internal_secret.as_ref().map(|s| s.0.as_str())
    }

    /// ReadService: in process (bound once it is built), or over HTTP.
    pub fn directory(&mut self) -> anyhow::Result<Arc<dyn Directory>> {
        if let Some(d) = &self.directory {
            return Ok(d.clone());
        }
        if self.role.runs(Command::Read) {
            return Ok(self.late_directory.clone());
        }
        let flag = "--read-url (CHIRP_READ_URL)";
        let peer = remote(
            &self.settings.read_url,
            self.secret(),
            self.role,
            "ReadService",
            flag,
        )?;
        let http: Arc<dyn Directory> = Arc::new(HttpDirectory(peer));
        let d: Arc<dyn Directory> = Arc::new(Timed::new(http, "read", &self.calls));
        self.directory = Some(d.clone());
        Ok(d)
    }

    /// UserGraphService: the one built in process, or over HTTP.
    pub fn graph(&mut self) -> anyhow::Result<Arc<dyn SocialGraph>> {
        if let Some(g) = &self.graph {
            return Ok(g.clone());
        }
        let flag = "--graph-url (CHIRP_GRAPH_URL)";
        let peer = remote(
            &self.settings.graph_url,
            self.secret(),
            self.role,
            "UserGraphService",
            flag,
        )?;
        let http: Arc<dyn SocialGraph> = Arc::new(HttpGraph(peer));
        let g: Arc<dyn SocialGraph> = Arc::new(Timed::new(http, "graph", &self.calls));
        self.graph = Some(g.clone());
        Ok(g)
    }

    /// TimelineService: the one built in process, or over HTTP.
    pub fn timelines(&mut self) -> anyhow::Result<Arc<dyn Timelines>> {
        if let Some(t) = &self.timelines {
            return Ok(t.clone());
        }
        let flag = "--timeline-url (CHIRP_TIMELINE_URL)";
        let peer = remote(
            &self.settings.timeline_url,
            self.secret(),
            self.role,
            "TimelineService",
            flag,
        )?;
        let http: Arc<dyn Timelines> = Arc::new(HttpTimelines(peer));
        let t: Arc<dyn Timelines> = Arc::new(Timed::new(http, "timeline", &self.calls));
        self.timelines = Some(t.clone());
        Ok(t)
    }

    /// AuthService's public API, for the web client's session routes in a process without
    /// AuthService.
    pub fn auth_api(&self) -> anyhow::Result<Arc<dyn chirp_web::AuthApi>> {
        let url = self.settings.auth_url.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "chirp {} needs AuthService's public API: give AuthService's address with --auth-url (CHIRP_AUTH_URL)",
                self.role.name()
            )
        })?;
        Ok(Arc::new(chirp_web::HttpAuthApi::new(url)?))
    }

    /// The Mastodon facade's peers: the public API (through the gateway, and AuthService's
    /// own routes at its address) and AuthService's OAuth on its internal API.
    pub fn mastodon(&self) -> anyhow::Result<super::services::MastodonPeers> {
        let needs = |what: &str, flag: &str| {
            anyhow::anyhow!(
                "chirp {} needs {what}: give its address with {flag}",
                self.role.name()
            )
        };
        let api = self
            .settings
            .api_url
            .as_deref()
            .ok_or_else(|| needs("Chirp's public API", "--api-url (CHIRP_API_URL)"))?;
        let auth = self
            .settings
            .auth_url
            .as_deref()
            .ok_or_else(|| needs("AuthService's public API", "--auth-url (CHIRP_AUTH_URL)"))?;
        let internal = self.settings.auth_internal_url.as_deref().ok_or_else(|| {
            needs(
                "AuthService's internal API",
                "--auth-internal-url (CHIRP_AUTH_INTERNAL_URL)",
            )
        })?;
        Ok(super::services::MastodonPeers {
            api: Arc::new(chirp_mastodon::HttpApi::new(api, auth)?),
            oauth: Arc::new(chirp_mastodon::HttpOAuth::new(internal, self.secret())?),
        })
    }

    /// A verifier of access tokens fed from AuthService's published keys (fetched in the
    /// background, and again at once for a token signed by a key it does not know).
    pub fn remote_verifier(&self) -> anyhow::Result<TokenVerifier> {
        let (what, flag) = ("AuthService's keys", "--auth-url (CHIRP_AUTH_URL)");
        // The JWKS is public: the secret is for internal APIs only.
        let peer = remote(&self.settings.auth_url, None, self.role, what, flag)?;
        let source = Arc::new(HttpJwks(peer));
        Ok(TokenVerifier::fed_by(source, REFETCH_AT_MOST_EVERY))
    }
}
