export declare const toolingPackages: string[];
export declare const filesystemToolPackages: string[];
export declare function ensureDebianPackages(names?: string[], options?: { log?: (line: string) => void }): void;
