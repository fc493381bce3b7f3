//! `vigil lsp`: a language server over stdio. Every answer comes from the same checker as
//! `vigil check` (diagnostics with their codes and help), the formatter of `vigil fmt`, and
//! the symbol table (definitions, references, hover, completion, outline).

pub mod features;
pub mod text;
pub mod transport;

use lsp_server::{Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{notification, request};
use std::collections::HashMap;
use std::path::PathBuf;

/// Runs the server until the client says `exit` or closes stdin; the exit code (1 when the
/// client sent something that is not a message).
pub fn run(rules_root: Option<PathBuf>) -> i32 {
    let (connection, io) = transport::stdio();
    let caps = match serde_json::to_value(features::capabilities()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let init = match connection.initialize(caps) {
        Ok(p) => p,
        Err(e) => {
            drop(connection);
            match io.join() {
                Err(io) => eprintln!("error: {io}"),
                Ok(()) => eprintln!("error: the client did not initialize: {e}"),
            }
            return 2;
        }
    };
    // The workspace's files are searched for references (files that import the document).
    #[allow(deprecated)]
    let workspace = serde_json::from_value::<lsp_types::InitializeParams>(init)
        .ok()
        .and_then(|p| {
            p.workspace_folders
                .and_then(|f| f.into_iter().next().map(|f| f.uri))
                .or(p.root_uri)
        })
        .map(|u| features::path_of(&u));
    let mut server = Server {
        docs: HashMap::new(),
        root: crate::config::rules_root(rules_root),
        workspace,
    };
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                match connection.handle_shutdown(&req) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(_) => break,
                }
                let resp = server.request(req);
                if connection.sender.send(Message::Response(resp)).is_err() {
                    break;
                }
            }
            Message::Notification(n) => {
                for out in server.notification(n) {
                    if connection.sender.send(Message::Notification(out)).is_err() {
                        break;
                    }
                }
            }
            Message::Response(_) => {}
        }
    }
    drop(connection);
    match io.join() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Open documents by URI.
pub struct Server {
    docs: HashMap<String, String>,
    root: Option<PathBuf>,
    workspace: Option<PathBuf>,
}

impl Server {
    fn notification(&mut self, n: Notification) -> Vec<Notification> {
        let uri = match n.method.as_str() {
            notification::DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.docs
                    .insert(p.text_document.uri.to_string(), p.text_document.text);
                p.text_document.uri
            }
            notification::DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                // Full sync: the last change is the whole text.
                if let Some(c) = p.content_changes.into_iter().last() {
                    self.docs.insert(p.text_document.uri.to_string(), c.text);
                }
                p.text_document.uri
            }
            notification::DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                {
                    self.docs.remove(p.text_document.uri.as_str());
                }
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        let Some(text) = self.docs.get(uri.as_str()) else {
            return Vec::new();
        };
        let diagnostics = features::diagnostics(&uri, text, self.root.as_deref());
        let params = lsp_types::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        };
        vec![Notification::new(
            notification::PublishDiagnostics::METHOD.to_string(),
            params,
        )]
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = self.answer(req);
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, e),
        }
    }

    fn answer(&mut self, req: Request) -> Result<serde_json::Value, String> {
        fn params<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<P, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let root = self.root.as_deref();
        let json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| e.to_string());
        match req.method.as_str() {
            request::HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = params(req.params)?;
                let pos = p.text_document_position_params;
                let text = self.text(&pos.text_document.uri)?;
                json(serde_json::to_value(features::hover(
                    &pos.text_document.uri,
                    text,
                    pos.position,
                    root,
                )))
            }
            request::GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = params(req.params)?;
                let pos = p.text_document_position_params;
                let text = self.text(&pos.text_document.uri)?;
                json(serde_json::to_value(features::definition(
                    &pos.text_document.uri,
                    text,
                    pos.position,
                    root,
                )))
            }
            request::References::METHOD => {
                let p: lsp_types::ReferenceParams = params(req.params)?;
                let pos = p.text_document_position;
                let text = self.text(&pos.text_document.uri)?;
                json(serde_json::to_value(features::references(
                    &pos.text_document.uri,
                    text,
                    pos.position,
                    root,
                    self.workspace.as_deref(),
                )))
            }
            request::Completion::METHOD => {
                let p: lsp_types::CompletionParams = params(req.params)?;
                let pos = p.text_document_position;
                let text = self.text(&pos.text_document.uri)?;
                json(serde_json::to_value(features::completion(
                    &pos.text_document.uri,
                    text,
                    pos.position,
                    root,
                )))
            }
            request::DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = params(req.params)?;
                let text = self.text(&p.text_document.uri)?;
                json(serde_json::to_value(features::symbols(
                    &p.text_document.uri,
                    text,
                    root,
                )))
            }
            request::Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = params(req.params)?;
                let text = self.text(&p.text_document.uri)?;
                json(serde_json::to_value(features::formatting(text)))
            }
            request::CodeActionRequest::METHOD => {
                let p: lsp_types::CodeActionParams = params(req.params)?;
                json(serde_json::to_value(features::code_actions(&p)))
            }
            other => Err(format!("`{other}` is not supported")),
        }
    }

    fn text(&self, uri: &lsp_types::Uri) -> Result<&str, String> {
        self.docs
            .get(uri.as_str())
            .map(String::as_str)
            .ok_or_else(|| format!("{} is not open", uri.as_str()))
    }
}
