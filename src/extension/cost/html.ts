import { escapeHtml } from '../blockMap/html';

/** The panel's Content-Security-Policy: no script at all; the one style block by nonce. */
export function costCsp(nonce: string): string {
  return ["default-src 'none'", `style-src 'nonce-${nonce}'`, "img-src 'none'", "script-src 'none'"].join('; ');
}

export function costPage(svg: string, title: string, nonce: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(costCsp(nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${escapeHtml(nonce)}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); background: var(--vscode-editor-background); padding: 12px; }
svg { max-width: 100%; height: auto; font-size: 11px; fill: var(--vscode-foreground); }
.title { font-size: 15px; font-weight: 600; }
.value { font-size: 10px; }
.summary, .axis, .xlabel, .value, .legend, .axis-title { fill: var(--vscode-descriptionForeground); }
.grid { stroke: var(--vscode-editorWidget-border, #8884); stroke-width: 0.5; }
.bar { fill: var(--vscode-charts-blue, #3794ff); opacity: 0.8; }
.bar.unknown { fill: none; stroke: var(--vscode-descriptionForeground); stroke-dasharray: 3 3; opacity: 0.5; }
.line { fill: none; stroke-width: 2; }
.line.source { stroke: var(--vscode-charts-orange, #d18616); }
.line.target { stroke: var(--vscode-charts-green, #89d185); stroke-dasharray: 6 4; }
.point.source { fill: var(--vscode-charts-orange, #d18616); }
.point.target { fill: var(--vscode-charts-green, #89d185); }
</style>
</head>
<body>
${svg}
</body>
</html>`;
}
