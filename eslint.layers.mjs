// The layers of docs/ARCHITECTURE.md as lint rules: dependencies point down only.
//   src/core      no vscode, no Azure SDK, none of the layers above it
//   src/azure     the only importer of @azure/*
//   src/extension the only importer of vscode
//   src/, webview nothing from emulator/ (the emulator is a separate program)
const sdk = { group: ['@azure/*'], message: 'Only src/azure imports the Azure SDKs.' };
const vscode = { name: 'vscode', message: 'Only src/extension imports vscode.' };
const emulator = { group: ['**/emulator', '**/emulator/*', '**/emulator/**'], message: 'The product never imports the emulator.' };
const upward = (...layers) => ({
  group: layers.flatMap((l) => [`**/${l}`, `**/${l}/*`, `**/${l}/**`]),
  message: `src/core depends on no other layer (${layers.join(', ')}).`,
});

function restrict(files, ignores, paths, patterns) {
  return { files, ignores, rules: { 'no-restricted-imports': ['error', { paths, patterns }] } };
}

export const layerRules = [
  restrict(['src/core/**/*.ts'], [], [vscode], [sdk, emulator, upward('azure', 'extension', 'cli')]),
  restrict(['src/**/*.ts', 'webview/**/*.ts'], ['src/core/**', 'src/azure/**', 'src/extension/**'], [vscode], [sdk, emulator]),
  restrict(['src/azure/**/*.ts'], [], [vscode], [emulator]),
  restrict(['src/extension/**/*.ts'], [], [], [sdk, emulator]),
];
