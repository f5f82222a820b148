// Extension load and activation time outside VS Code: dist/extension.js is required with a stand-in
// `vscode` module (every API a no-op that answers with another stand-in), then activate() is called with
// a stub ExtensionContext. Prints {loadMs, activateMs, error?} as one JSON line.
// The stand-in costs nothing, so this is the bundle's own parse/evaluate and wiring time, not VS Code's.
const Module = require('node:module');
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');

function standIn(name) {
  const target = function () {};
  const assigned = new Map();
  return new Proxy(target, {
    set(_t, prop, value) {
      assigned.set(prop, value);
      return true;
    },
    get(_t, prop) {
      if (assigned.has(prop)) return assigned.get(prop);
      if (prop === 'then') return undefined; // not a promise
      if (prop === Symbol.toPrimitive) return () => '';
      if (prop === Symbol.iterator) return function* () {};
      if (prop === 'prototype') return target.prototype;
      if (prop === 'dispose') return () => undefined;
      return standIn(`${name}.${String(prop)}`);
    },
    apply(_t, _this, args) {
      // Events (onDidX(listener)) and registrations return disposables; async APIs resolve.
      if (/\.(executeCommand|show\w*Message|showQuickPick|showInputBox)$/.test(name)) return Promise.resolve(undefined);
      if (/\.get$/.test(name)) return args[1];
      return standIn(`${name}()`);
    },
    construct() {
      return standIn(`new ${name}`);
    },
  });
}

const memento = () => {
  const store = new Map();
  return { get: (k, d) => (store.has(k) ? store.get(k) : d), update: async (k, v) => void store.set(k, v), keys: () => [...store.keys()], setKeysForSync() {} };
};

// esbuild's CommonJS interop copies the module's own property names, so the stand-in lists the API's.
const API = [
  'window',
  'commands',
  'workspace',
  'env',
  'extensions',
  'languages',
  'authentication',
  'l10n',
  'Uri',
  'EventEmitter',
  'Disposable',
  'TreeItem',
  'TreeItemCollapsibleState',
  'ThemeIcon',
  'ThemeColor',
  'MarkdownString',
  'ProgressLocation',
  'StatusBarAlignment',
  'ViewColumn',
  'ConfigurationTarget',
  'CancellationTokenSource',
  'CancellationError',
  'LogLevel',
  'QuickPickItemKind',
  'ExtensionMode',
  'FileType',
  'RelativePattern',
  'Range',
  'Position',
  'Selection',
  'TabInputWebview',
];
const vscode = Object.fromEntries(API.map((name) => [name, standIn(`vscode.${name}`)]));
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'vscode') return 'vscode';
  return resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode };

const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'dd-activation-'));
const context = {
  subscriptions: [],
  globalState: memento(),
  workspaceState: memento(),
  secrets: { get: async () => undefined, store: async () => undefined, delete: async () => undefined, onDidChange: () => ({ dispose() {} }) },
  extensionUri: vscode.Uri.file(path.resolve(__dirname, '..')),
  extensionPath: path.resolve(__dirname, '..'),
  globalStorageUri: { fsPath: storage, path: storage, scheme: 'file' },
  globalStoragePath: storage,
  logUri: { fsPath: storage, path: storage, scheme: 'file' },
  storageUri: undefined,
  extensionMode: 1,
  environmentVariableCollection: standIn('env'),
  asAbsolutePath: (p) => path.resolve(__dirname, '..', p),
};

(async () => {
  let error;
  const t0 = performance.now();
  const extension = require(path.resolve(__dirname, '..', 'dist', 'extension.js'));
  const t1 = performance.now();
  try {
    await extension.activate(context);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const t2 = performance.now();
  fs.rmSync(storage, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ loadMs: t1 - t0, activateMs: t2 - t1, ...(error ? { error } : {}) }) + '\n');
  process.exit(0);
})();
