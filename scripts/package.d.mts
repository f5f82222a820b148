export declare const vsixPath: string;
export declare function packageExtension(options?: { quiet?: boolean }): Promise<string>;
