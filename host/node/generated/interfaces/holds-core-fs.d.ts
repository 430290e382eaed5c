/** @module Interface holds:core/fs@0.3.0 **/
export function inspect(path: string): Node;
export function readLinkFile(path: string): string | undefined;
export type Node = NodeMissing | NodeDirectory | NodeFile | NodeSymlink | NodeOther;
export interface NodeMissing {
  tag: 'missing',
}
export interface NodeDirectory {
  tag: 'directory',
}
export interface NodeFile {
  tag: 'file',
}
export interface NodeSymlink {
  tag: 'symlink',
  val: string,
}
export interface NodeOther {
  tag: 'other',
}
