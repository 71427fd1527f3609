//! OAuth 2 as Mastodon serves it: app registration, the sign-in and consent page, the
//! token and revocation endpoints, and the server's metadata (RFC 8414).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chirp_auth::oauth::{
    AppView, Authorization, NewApp, OAuthError, Revocation, Scopes, TokenRequest, OUT_OF_BAND,
};
use chirp_core::ApiError;
use serde_json::json;

use crate::entities::escape;
use crate::error::{MastoError, MastoResult};
use crate::request::Req;
use crate::MastodonState;

type St = State<MastodonState>;

/// The Application entity of an app (with its secret, when just made).
fn application(app: &AppView) -> serde_json::Value {
    let mut a = json!({
        "id": app.id.to_string(),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(' ').collect::<Vec<_>>(),
        "redirect_uri": app.redirect_uris.join("\n"),
        "redirect_uris": app.redirect_uris,
        "vapid_key": "",
    });
    if let Some(secret) = &app.client_secret {
        a["client_id"] = json!(app.client_id);
        a["client_secret"] = json!(secret);
        a["client_secret_expires_at"] = json!(0);
    }
    a
}

/// `POST /api/v1/apps`.
pub async fn create_app(State(s): St, req: Req) -> MastoResult<Response> {
    let p = &req.params;
    let mut redirect_uris: Vec<String> = p
        .list("redirect_uris")
        .iter()
        .map(|u| u.to_string())
        .collect();
    // One string may hold several, one per line (Mastodon's older form).
    if redirect_uris.len() == 1 {
        redirect_uris = redirect_uris[0]
            .split(['\n', ' '])
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let new = NewApp {
        client_name: p.get("client_name").unwrap_or("").to_owned(),
        redirect_uris,
        scopes: p.get("scopes").unwrap_or("").to_owned(),
        website: p.get("website").map(str::to_owned),
    };
    let app = s.oauth.create_app(new).await?;
    Ok(Json(application(&app)).into_response())
}

/// `GET /api/v1/apps/verify_credentials`: the app of the token.
pub async fn verify_app(State(s): St, req: Req) -> MastoResult<Response> {
    let owner = s.token_owner(&req).await?;
    let mut a = application(&owner.app);
    a["scopes"] = json!(owner.scopes.to_string().split(' ').collect::<Vec<_>>());
    Ok(Json(a).into_response())
}

/// The server's OAuth metadata.
pub async fn metadata(req: Req) -> Response {
    let b = &req.base;
    Json(json!({
        "issuer": format!("{b}/"),
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": format!("{b}/oauth/authorize"),
        "token_endpoint": format!("{b}/oauth/token"),
        "revocation_endpoint": format!("{b}/oauth/revoke"),
        "app_registration_endpoint": format!("{b}/api/v1/apps"),
        "scopes_supported": Scopes::known(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }))
    .into_response()
}

/// The parameters of an authorization request, as the page carries them along.
struct AuthorizeParams {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    fn of(req: &Req) -> Self {
        let p = &req.params;
        let s = |n: &str| p.get(n).map(str::to_owned);
        AuthorizeParams {
            client_id: s("client_id").unwrap_or_default(),
            redirect_uri: s("redirect_uri").unwrap_or_default(),
            scope: s("scope").or_else(|| s("scopes")).unwrap_or_default(),
            state: s("state"),
            code_challenge: s("code_challenge"),
            code_challenge_method: s("code_challenge_method"),
        }
    }

    fn hidden_fields(&self) -> String {
        let mut out = String::new();
        let mut field = |name: &str, value: &str| {
            out.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n",
                escape(value)
            ));
        };
        field("client_id", &self.client_id);
        field("redirect_uri", &self.redirect_uri);
        field("scope", &self.scope);
        for (name, value) in [
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ] {
            if let Some(v) = value {
                field(name, v);
            }
        }
        out
    }
}

/// What a sign-in form may be sent on to, besides this origin: the app's redirect (its
/// origin, or for an app's own scheme such as `tusky:`, the scheme), for browsers check
/// the redirect that follows a form's submission against `form-action` too. `None` for
/// the out-of-band page, or an address that cannot be said in a policy.
fn redirect_source(uri: &str) -> Option<String> {
    if uri == OUT_OF_BAND {
        return None;
    }
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return None;
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Some(format!("{}:", scheme.to_ascii_lowercase()));
    }
    let host = rest.strip_prefix("//")?.split(['/', '?']).next()?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    host_ok.then(|| format!("{}://{host}", scheme.to_ascii_lowercase()))
}

/// A page of the sign-in flow, in the web client's look (its style sheet and icon, served
/// on this origin too); no script. `form_action`: where its form may go besides here.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_sending_to(status, title, body, None)
}

fn page_sending_to(
    status: StatusCode,
    title: &str,
    body: &str,
    form_action: Option<String>,
) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n<title>{} · Chirp</title>\n\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/assets/style.css\">\n</head>\n<body>\n\
         <header class=\"top\"><div class=\"bar\"><span class=\"brand\"><img src=\"/assets/icon.svg\" alt=\"\" width=\"28\" height=\"28\"> Chirp</span></div></header>\n\
         <main id=\"main\">\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    );
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    chirp_web::assets::security_headers(h);
    if let Some(source) = form_action {
        let policy = chirp_web::assets::CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {source}"),
        );
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Sign-in refused",
        &format!(
            "<div class=\"card auth\"><h1>This sign-in cannot go on</h1>\n<p class=\"error\" role=\"alert\">{}</p></div>\n",
            escape(message)
        ),
    )
}

fn sign_in_form(
    app: &AppView,
    params: &AuthorizeParams,
    login: &str,
    error: Option<&str>,
) -> String {
    let scopes = Scopes::parse_or(&params.scope, "read")
        .map(|s| s.to_string())
        .unwrap_or_default();
    let error = match error {
        Some(e) => format!(
            "<p class=\"error\" id=\"form-error\" role=\"alert\">{}</p>\n",
            escape(e)
        ),
        None => String::new(),
    };
    format!(
        "<form class=\"card auth\" method=\"post\" action=\"/oauth/authorize\">\n\
         <h1>Sign in to Chirp</h1>\n\
         <p class=\"hint\"><strong>{name}</strong> asks to use your account, with: <code>{scopes}</code>.</p>\n\
         {hidden}\
         <div class=\"field\"><label for=\"login\">Handle or email</label>\n\
         <input id=\"login\" name=\"login\" autocomplete=\"username\" required value=\"{login}\"></div>\n\
         <div class=\"field\"><label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></div>\n\
         {error}\
         <button type=\"submit\" class=\"primary\">Sign in and authorize</button>\n\
         </form>\n",
        name = escape(&app.name),
        scopes = escape(&scopes),
        hidden = params.hidden_fields(),
        login = escape(login),
    )
}

/// Checks the request before showing anything: a page for the user (never a redirect to
/// an address the app did not register) when it cannot go on.
async fn checked(s: &MastodonState, params: &AuthorizeParams) -> Result<AppView, Response> {
    match s
        .oauth
        .check(&params.client_id, &params.redirect_uri, &params.scope)
        .await
    {
        Ok(app) => Ok(app),
        Err(OAuthError::InvalidClient) => Err(error_page(
            StatusCode::BAD_REQUEST,
            "The app that sent you here is not registered with this server.",
        )),
        Err(OAuthError::Api(e)) => Err(error_page(e.status(), &e.to_string())),
        Err(e) => Err(error_page(StatusCode::BAD_REQUEST, &e.to_string())),
    }
}

/// `GET /oauth/authorize`: the sign-in and consent page.
pub async fn authorize_page(State(s): St, req: Req) -> Response {
    if req.params.get("response_type").unwrap_or("code") != "code" {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Only response_type=code is supported.",
        );
    }
    let params = AuthorizeParams::of(&req);
    let app = match checked(&s, &params).await {
        Ok(app) => app,
        Err(page) => return page,
    };
    page_sending_to(
        StatusCode::OK,
        "Sign in",
        &sign_in_form(&app, &params, "", None),
        redirect_source(&params.redirect_uri),
    )
}

/// `POST /oauth/authorize`: the form sent; on success, back to the app with the code (or
/// the code shown, for an out-of-band app).
pub async fn authorize(State(s): St, req: Req) -> Response {
    let params = AuthorizeParams::of(&req);
    let app = match checked(&s, &params).await {
        Ok(app) => app,
        Err(page) => return page,
    };
    let login = req.params.get("login").unwrap_or("").to_owned();
    let attempt = Authorization {
        client_id: params.client_id.clone(),
        redirect_uri: params.redirect_uri.clone(),
        scope: params.scope.clone(),
        code_challenge: params.code_challenge.clone(),
        code_challenge_method: params.code_challenge_method.clone(),
        login: login.clone(),
        password: req.params.raw("password").unwrap_or("").to_owned(),
        client: req.client,
    };
    let code = match s.oauth.authorize(attempt).await {
        Ok(code) => code,
        Err(OAuthError::Api(
            e @ (ApiError::Unauthorized(_) | ApiError::TooManyRequests { .. }),
        )) => {
            let message = match &e {
                ApiError::Unauthorized(_) => "Wrong handle, email or password.".to_owned(),
                other => format!("Too many attempts: {other}"),
            };
            let form = sign_in_form(&app, &params, &login, Some(&message));
            let to = redirect_source(&params.redirect_uri);
            return page_sending_to(e.status(), "Sign in", &form, to);
        }
        Err(OAuthError::Api(e)) => return error_page(e.status(), &e.to_string()),
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if params.redirect_uri == OUT_OF_BAND {
        let body = format!(
            "<div class=\"card auth\"><h1>Authorization code</h1>\n\
             <p class=\"hint\">Copy this code and paste it into <strong>{}</strong>.</p>\n\
             <p><input id=\"code\" readonly value=\"{}\" aria-label=\"Authorization code\"></p></div>\n",
            escape(&app.name),
            escape(&code)
        );
        return page(StatusCode::OK, "Authorization code", &body);
    }
    let mut target = params.redirect_uri.clone();
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("code", &code);
    if let Some(state) = &params.state {
        q.append_pair("state", state);
    }
    target.push(if target.contains('?') { '&' } else { '?' });
    target.push_str(&q.finish());
    let mut res = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The client's credentials from HTTP Basic authentication, when it uses that.
fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let value = req.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let un = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((un(id)?, un(secret)?))
}

fn oauth_answer(res: Result<serde_json::Value, OAuthError>) -> Response {
    match res {
        Ok(v) => {
            let mut res = Json(v).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => MastoError::oauth(e).into_response(),
    }
}

/// `POST /oauth/token`.
pub async fn token(State(s): St, req: Req) -> Response {
    let p = &req.params;
    let s_ = |n: &str| p.get(n).map(str::to_owned);
    let (mut client_id, mut client_secret) = (s_("client_id"), s_("client_secret"));
    if let Some((id, secret)) = basic_credentials(&req) {
        client_id = Some(id);
        client_secret = Some(secret);
    }
    let request = TokenRequest {
        grant_type: s_("grant_type").unwrap_or_default(),
        client_id,
        client_secret,
        code: s_("code"),
        redirect_uri: s_("redirect_uri"),
        code_verifier: s_("code_verifier"),
        refresh_token: s_("refresh_token"),
        scope: s_("scope").or_else(|| s_("scopes")),
    };
    oauth_answer(
        s.oauth
            .token(request)
            .await
            .map(|g| serde_json::to_value(g).unwrap_or_default()),
    )
}

/// `POST /oauth/revoke`: `{}` whether or not the token was known (RFC 7009).
pub async fn revoke(State(s): St, req: Req) -> Response {
    let p = &req.params;
    let (mut client_id, mut client_secret) = (
        p.get("client_id").unwrap_or("").to_owned(),
        p.get("client_secret").unwrap_or("").to_owned(),
    );
    if let Some((id, secret)) = basic_credentials(&req) {
        (client_id, client_secret) = (id, secret);
    }
    let r = Revocation {
        client_id,
        client_secret,
        token: p.get("token").unwrap_or("").to_owned(),
    };
    oauth_answer(s.oauth.revoke(r).await.map(|()| json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_is_allowed_to_the_apps_origin_or_scheme_only() {
        assert_eq!(
            redirect_source("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(redirect_source("tusky://oauth").as_deref(), Some("tusky:"));
        assert_eq!(redirect_source(OUT_OF_BAND), None);
        assert_eq!(redirect_source("https://a.example;script-src *"), None);
        assert_eq!(redirect_source("https:///nohost"), None);
    }
}
