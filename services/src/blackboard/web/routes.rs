//! The pages' addresses: a request's method and path, percent-decoded and checked, as one of
//! the routes Blackboard serves. Anything else is 404 (or 405 for a known path with the wrong
//! method), before any record is read.

use handin_core::names::check_label;
use percent_encoding::percent_decode_str;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /`: the person's home (or, without a certificate, how to get one in).
    Home,
    /// `GET /static/NAME`: the style sheet or the script.
    Static(&'static str),
    /// `GET /files/ID`: a stored submission's bytes.
    File(String),
    /// `GET /files/ID/receipt`: its signed receipt.
    Receipt(String),
    /// `GET /submitted/ID`: what Blackboard stored and signed for one of the caller's uploads.
    Submitted(String),
    /// `GET /feedback/COURSE/ASSIGNMENT`: the caller's feedback file.
    Feedback(String, String),
    /// `POST /submit/COURSE/ASSIGNMENT`: an upload (multipart form).
    Submit(String, String),
    /// `GET /staff/COURSE/ASSIGNMENT`: the assignment's table.
    Table(String, String),
    /// `GET /staff/COURSE/ASSIGNMENT/all.zip`: every current submission, one zip.
    Zip(String, String),
    /// `POST /staff/COURSE/ASSIGNMENT/ACTION`: grade, extend, release, a grade sheet.
    Change(String, String, Action),
    /// `GET /log/PATH`: an object of the transparency log (C2SP tlog-tiles: `checkpoint`,
    /// `tile/...`; and `vkey`), for anyone, certificate or not.
    Log(String),
}

/// A staff change made by a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// One student's grade.
    Grade,
    /// One student's extension.
    Extend,
    /// Release the assignment's grades.
    Release,
    /// Grades from a grade sheet (CSV).
    Sheet,
}

/// Why a request has no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoute {
    /// 404.
    NotFound,
    /// 405: the path exists for another method.
    Method,
}

/// The static files, compiled in.
pub(crate) const STATIC: [(&str, &str, &str); 2] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("static/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    ),
];

/// The route of `method` `path` (the path without its query).
pub(crate) fn route(method: &str, path: &str) -> Result<Route, NoRoute> {
    let parts: Vec<String> = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let get = method == "GET";
    let post = method == "POST";
    let label = |what: &str, s: &str| check_label(what, s).is_ok();
    let want = |ok: bool, r: Route| if ok { Ok(r) } else { Err(NoRoute::Method) };
    match parts.as_slice() {
        [""] => want(get, Route::Home),
        ["static", name] => {
            let (name, _, _) = STATIC
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or(NoRoute::NotFound)?;
            want(get, Route::Static(name))
        }
        ["log", rest @ ..] if !rest.is_empty() => {
            let path = rest.join("/");
            handin_core::logs::check_log_path(&path).map_err(|_| NoRoute::NotFound)?;
            want(get, Route::Log(path))
        }
        ["files", id] if is_id(id) => want(get, Route::File((*id).to_owned())),
        ["files", id, "receipt"] if is_id(id) => want(get, Route::Receipt((*id).to_owned())),
        ["submitted", id] if is_id(id) => want(get, Route::Submitted((*id).to_owned())),
        ["feedback", c, a] if label("course", c) && label("assignment", a) => {
            want(get, Route::Feedback((*c).into(), (*a).into()))
        }
        ["submit", c, a] if label("course", c) && label("assignment", a) => {
            want(post, Route::Submit((*c).into(), (*a).into()))
        }
        ["staff", c, a] if label("course", c) && label("assignment", a) => {
            want(get, Route::Table((*c).into(), (*a).into()))
        }
        ["staff", c, a, "all.zip"] if label("course", c) && label("assignment", a) => {
            want(get, Route::Zip((*c).into(), (*a).into()))
        }
        ["staff", c, a, action] if label("course", c) && label("assignment", a) => {
            let action = match *action {
                "grade" => Action::Grade,
                "extend" => Action::Extend,
                "release" => Action::Release,
                "grades" => Action::Sheet,
                _ => return Err(NoRoute::NotFound),
            };
            want(post, Route::Change((*c).into(), (*a).into(), action))
        }
        _ => Err(NoRoute::NotFound),
    }
}

/// Whether `s` has the form of a submission id (letters and digits, bounded).
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A path segment percent-encoded for a link (course and assignment names are plain labels,
/// but a link never trusts that).
pub(crate) fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_and_only_those() {
        assert_eq!(route("GET", "/"), Ok(Route::Home));
        assert_eq!(route("GET", "/static/app.js"), Ok(Route::Static("app.js")));
        assert_eq!(
            route("GET", "/static/../../etc/passwd"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            route("GET", "/files/ABC123"),
            Ok(Route::File("ABC123".into()))
        );
        assert_eq!(route("GET", "/files/..%2F..%2Fx"), Err(NoRoute::NotFound));
        assert_eq!(
            route("POST", "/submit/CSCI3180/hw1"),
            Ok(Route::Submit("CSCI3180".into(), "hw1".into()))
        );
        assert_eq!(route("GET", "/submit/CSCI3180/hw1"), Err(NoRoute::Method));
        assert_eq!(route("POST", "/"), Err(NoRoute::Method));
        assert_eq!(
            route("POST", "/staff/CSCI3180/hw1/grade"),
            Ok(Route::Change(
                "CSCI3180".into(),
                "hw1".into(),
                Action::Grade
            ))
        );
        assert_eq!(
            route("POST", "/staff/CSCI3180/hw1/delete"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            route("GET", "/staff/CSCI3180/<script>"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            route("GET", "/log/checkpoint"),
            Ok(Route::Log("checkpoint".into()))
        );
        assert_eq!(
            route("GET", "/log/tile/0/x001/002.p/7"),
            Ok(Route::Log("tile/0/x001/002.p/7".into()))
        );
        assert_eq!(route("GET", "/log/tile/0/../x"), Err(NoRoute::NotFound));
        assert_eq!(route("GET", "/log/"), Err(NoRoute::NotFound));
        assert_eq!(route("POST", "/log/checkpoint"), Err(NoRoute::Method));
        assert_eq!(
            route("GET", "/staff/CSCI3180/hw1/all.zip"),
            Ok(Route::Zip("CSCI3180".into(), "hw1".into()))
        );
    }
}
