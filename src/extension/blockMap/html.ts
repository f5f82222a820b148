import { randomBytes } from 'node:crypto';

/** A fresh script nonce per page load (CSP nonces must not be guessable or reused). */
export function createNonce(): string {
  return randomBytes(18).toString('base64');
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The panel's Content-Security-Policy: nothing by default; our one script and styles by nonce. */
export function blockMapCsp(cspSource: string, nonce: string): string {
  return ["default-src 'none'", `script-src 'nonce-${nonce}'`, `style-src ${cspSource} 'nonce-${nonce}'`, `img-src ${cspSource} data:`].join('; ');
}

/** The map page: one nonce'd script (the bundle builds the DOM and its styles), no inline code, nothing remote. */
export function blockMapPage(options: { cspSource: string; scriptUri: string; nonce: string; title: string }): string {
  const { cspSource, scriptUri, nonce, title } = options;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(blockMapCsp(cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<script nonce="${escapeHtml(nonce)}" src="${escapeHtml(scriptUri)}" defer></script>
</head>
<body></body>
</html>`;
}

/** Shown in place of the map when a restored panel's snapshots cannot be found again. */
export function unavailablePage(title: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'">
<title>${escapeHtml(title)}</title></head>
<body><p>${escapeHtml(title)}: the snapshots of this map are not available any more. Open it again from the Snapshots view.</p></body></html>`;
}
