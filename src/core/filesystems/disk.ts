import { filesystemFormats } from './formats';
import { detectUnsupported, PROBE_BYTES, readPartitionTable, UNSUPPORTED_REASONS, type PartitionTable } from './partitions';
import {
  FilesystemError,
  type BlockReader,
  type Filesystem,
  type FilesystemFormat,
  type FilesystemType,
  type Partition,
  type UnsupportedContent,
} from './types';

/** One partition (or the whole disk) and what it holds. */
export interface Volume {
  readonly partition: Partition;
  readonly type: FilesystemType | UnsupportedContent;
  readonly label: string;
  /** True when the filesystem opened; else `reason` says why its changes are shown as blocks only. */
  readonly supported: boolean;
  readonly reason?: string;
  readonly filesystem?: Filesystem;
}

export interface DiskImage {
  readonly table: PartitionTable;
  readonly volumes: Volume[];
}

/** `{partition, type, label, offsetBytes, sizeBytes, supported, reason}` as `diff --files --json` prints it. */
export interface VolumeSummary {
  readonly partition: number;
  readonly type: string;
  readonly label: string;
  readonly offsetBytes: number;
  readonly sizeBytes: number;
  readonly supported: boolean;
  readonly reason: string | null;
}

export function summarizeVolume(v: Volume): VolumeSummary {
  return {
    partition: v.partition.index,
    type: v.type,
    label: v.label,
    offsetBytes: v.partition.offsetBytes,
    sizeBytes: v.partition.sizeBytes,
    supported: v.supported,
    reason: v.reason ?? null,
  };
}

/**
 * Reads the partition table and opens every filesystem Disk Delta can read. What it cannot read
 * (LVM, LUKS, BitLocker, ReFS, Btrfs, swap, a damaged filesystem) is named with the reason instead.
 */
export async function openDisk(reader: BlockReader, signal?: AbortSignal, formats?: readonly FilesystemFormat[]): Promise<DiskImage> {
  const layout = await readPartitionTable(reader, signal);
  const known = formats ?? (await filesystemFormats());
  const volumes: Volume[] = [];
  for (const partition of layout.partitions) {
    const probeLength = Math.min(PROBE_BYTES, partition.sizeBytes);
    const head = await reader.read(partition.offsetBytes, probeLength, signal);
    const format = known.find((f) => f.detect(head.subarray(0, 64 * 1024)));
    if (!format) {
      const unregistered = signatureOf(head);
      if (unregistered) {
        volumes.push({
          partition,
          type: unregistered,
          label: '',
          supported: false,
          reason: `${unregistered.toUpperCase()} filesystem: its reader is not part of this build; changes are shown as blocks`,
        });
        continue;
      }
      const content = detectUnsupported(head);
      volumes.push({ partition, type: content, label: '', supported: false, reason: UNSUPPORTED_REASONS[content] });
      continue;
    }
    try {
      const filesystem = await format.open(reader, partition.offsetBytes, partition.sizeBytes, signal);
      volumes.push({ partition, type: format.type, label: filesystem.label, supported: true, filesystem });
    } catch (error) {
      if (!(error instanceof FilesystemError)) throw error;
      volumes.push({ partition, type: format.type, label: '', supported: false, reason: `cannot be read: ${error.message}` });
    }
  }
  return { table: layout.table, volumes };
}

/** Signatures of the formats Disk Delta reads, for naming one whose reader is not registered. */
function signatureOf(head: Uint8Array): FilesystemType | undefined {
  const at = (o: number, text: string) => [...text].every((c, i) => head[o + i] === c.charCodeAt(0));
  if (at(0, 'XFSB')) return 'xfs';
  if (at(3, 'NTFS    ')) return 'ntfs';
  if (head.length > 1024 + 0x39 && head[1024 + 0x38] === 0x53 && head[1024 + 0x39] === 0xef) return 'ext4';
  return undefined;
}

/**
 * The volume a command works on: the one numbered `partition`, else the only readable one. Several
 * readable ones and no choice is an error that lists them.
 */
export function chooseVolume(disk: DiskImage, partition: number | undefined): Volume & { filesystem: Filesystem } {
  const readable = disk.volumes.filter((v): v is Volume & { filesystem: Filesystem } => v.supported && v.filesystem !== undefined);
  const list = disk.volumes.map((v) => `  ${v.partition.index}: ${v.type}${v.label ? ` "${v.label}"` : ''}${v.supported ? '' : ` (${v.reason})`}`).join('\n');
  if (partition !== undefined) {
    const v = disk.volumes.find((x) => x.partition.index === partition);
    if (!v) throw new VolumeChoiceError(`The disk has no partition ${partition}.`, `Partitions:\n${list}`, 'PartitionNotFound');
    if (!v.filesystem) throw new VolumeChoiceError(`Partition ${partition} cannot be read: ${v.reason}`, `Partitions:\n${list}`, 'FilesystemNotSupported');
    return v as Volume & { filesystem: Filesystem };
  }
  if (readable.length === 1) return readable[0]!;
  if (readable.length === 0) {
    throw new VolumeChoiceError('The disk holds no filesystem Disk Delta can read.', `Partitions:\n${list || '  (none)'}`, 'NoReadableFilesystem');
  }
  throw new VolumeChoiceError(`The disk holds ${readable.length} readable filesystems.`, `Choose one with --partition <n>:\n${list}`, 'PartitionRequired');
}

/** Why no volume could be chosen; `usage` is true when the caller must add --partition. */
export class VolumeChoiceError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly code: 'PartitionNotFound' | 'FilesystemNotSupported' | 'NoReadableFilesystem' | 'PartitionRequired',
  ) {
    super(message);
    this.name = 'VolumeChoiceError';
  }
}
