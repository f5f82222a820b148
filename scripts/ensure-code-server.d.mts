export declare const codeServerVersion: string;
export declare const nodeVersion: string;
export declare function cacheRoot(): string;
export declare function ensureCodeServer(options?: { log?: (line: string) => void }): Promise<{
  version: string;
  node: string;
  entry: string;
  command: string[];
  env: NodeJS.ProcessEnv;
}>;
