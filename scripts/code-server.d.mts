import type { ChildProcess } from 'node:child_process';
import type { ensureCodeServer } from './ensure-code-server.mjs';

export declare const standardSettings: Record<string, unknown>;
export declare function freePort(): Promise<number>;
export declare function killProcessGroup(child: ChildProcess, signal: NodeJS.Signals): void;

export interface CodeServerOptions {
  /** The packaged extension (scripts/package.mjs). */
  vsix: string;
  userDataDir: string;
  extensionsDir: string;
  /** The workspace folder opened. */
  folder: string;
  /** Written over the standard settings. */
  settings?: Record<string, unknown>;
  /** Written only where settings.json has no value (with keepUserSettings). */
  settingDefaults?: Record<string, unknown>;
  /** Keep what settings.json already holds instead of replacing the file. */
  keepUserSettings?: boolean;
  /** Reinstall the VSIX even when the same version is installed. */
  forceInstall?: boolean;
  /** 0 or omitted: any free port. */
  port?: number;
  /** Default: code-server.yaml next to userDataDir. */
  configFile?: string;
  /** An ensureCodeServer() result already at hand. */
  codeServer?: Awaited<ReturnType<typeof ensureCodeServer>>;
  log?: (line: string) => void;
  /** How long to wait for /healthz (default 120 s). */
  healthTimeoutMs?: number;
}

export interface RunningCodeServer {
  port: number;
  /** The workbench with the folder open. */
  url: string;
  /** code-server, leader of the process group that holds everything it started. */
  process: ChildProcess;
  /** The last 20,000 characters code-server printed. */
  output(): string;
  exited(): boolean;
  /** SIGTERM to the group, up to 5 s for code-server to exit, then SIGKILL to whatever is left of the group. */
  stop(): Promise<void>;
  /** SIGKILL to the group at once (no clean shutdown). */
  crash(): Promise<void>;
}

export declare function startCodeServer(options: CodeServerOptions): Promise<RunningCodeServer>;
