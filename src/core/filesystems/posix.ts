/**
 * File types as ext4 and XFS record them: in an inode's mode (S_IFMT bits), and in the type byte of a directory
 * entry (ext4's file_type and XFS's ftype share the values 1 file, 2 dir, 3-6 devices, FIFOs and sockets, 7 symlink).
 */
import type { FileType } from './types';

export function fileTypeOfMode(mode: number): FileType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** undefined when the entry does not say (0, or a value no format defines): the caller reads the inode. */
export function fileTypeOfDirent(t: number | undefined): FileType | undefined {
  switch (t) {
    case 1:
      return 'file';
    case 2:
      return 'dir';
    case 7:
      return 'symlink';
    case 3:
    case 4:
    case 5:
    case 6:
      return 'other';
    default:
      return undefined;
  }
}
