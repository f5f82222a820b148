export declare const toolingPackages: string[];
export declare const filesystemPackages: string[];
export declare const testPackages: string[];
export declare function ensureDebianPackages(names?: string[], options?: { log?: (line: string) => void }): void;
