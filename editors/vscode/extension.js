// Starts `vigil lsp` for .rules files; everything else comes from the language server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("vigil");
  const args = ["lsp"];
  const root = config.get("rulesRoot");
  if (root) {
    args.push("--rules-root", root);
  }
  const server = { command: config.get("path") || "vigil", args };
  client = new LanguageClient(
    "vigil",
    "Vigil",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "vigil" }] }
  );
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
