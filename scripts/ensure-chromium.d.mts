import type { Browser, LaunchOptions } from 'playwright-core';

export declare const chromiumPath: string;
export declare const chromiumArgs: string[];
export declare function ensureChromium(options?: { log?: (line: string) => void }): string;
export declare function launchChromium(options?: LaunchOptions): Promise<Browser>;
