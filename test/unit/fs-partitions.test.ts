/**
 * Partition tables written by util-linux sfdisk (GPT and MBR with logical partitions), checked against
 * `sfdisk --json`; filesystems made in place with `mke2fs -E offset=`; content Disk Delta cannot read
 * named from its signature (swap by mkswap; LVM2, LUKS, BitLocker, ReFS, Btrfs by their on-disk magic).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { chooseVolume, openDisk, VolumeChoiceError } from '../../src/core/filesystems/disk';
import { detectUnsupported, readPartitionTable } from '../../src/core/filesystems/partitions';
import { BufferReader } from '../../src/core/filesystems/reader';
import { requireTools, run, tempDir, writeTree } from './support/fsTools';

const MiB = 1024 * 1024;

function poke(image: string, offset: number, bytes: Uint8Array | string): void {
  const fd = openSync(image, 'r+');
  try {
    const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    writeSync(fd, b, 0, b.length, offset);
  } finally {
    closeSync(fd);
  }
}

interface SfdiskJson {
  partitiontable: { label: string; sectorsize?: number; partitions: Array<{ node: string; start: number; size: number; type: string; name?: string }> };
}

void describe('partition tables vs sfdisk', { timeout: 300_000 }, () => {
  const { dir, cleanup } = tempDir('dd-parts-');
  after(cleanup);

  void it('GPT: offsets, sizes, types and names as sfdisk --json reports them; ext4 opened, the rest named', async () => {
    requireTools('sfdisk', 'mke2fs', 'mkswap');
    const image = path.join(dir, 'gpt.img');
    run('truncate', ['-s', '96M', image]);
    run(
      'sfdisk',
      ['-q', image],
      [
        'label: gpt',
        'start=2048, size=40960, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"',
        'size=8192, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"',
        'size=8192, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="lvm"',
        'size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="crypt"',
        'size=8192, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="bitlocker"',
        'size=8192, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="refs"',
        'size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="btrfs"',
        'size=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="blank"',
      ].join('\n'),
    );
    const table = (JSON.parse(run('sfdisk', ['--json', image])) as SfdiskJson).partitiontable;
    const at = (n: number) => table.partitions[n - 1]!.start * 512;
    const src = path.join(dir, 'gpt-src');
    writeTree(src, { 'etc/hostname': 'vm1\n' });
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'cloudimg-rootfs', '-E', `offset=${at(1)}`, '-d', src, image, `${(40960 * 512) / 1024}k`]);
    // mkswap writes the whole file it is given: make it on a scratch file, then copy its header in.
    const swap = path.join(dir, 'swap.img');
    run('truncate', ['-s', '4M', swap]);
    run('mkswap', ['-q', swap]);
    poke(image, at(2), readFileSync(swap).subarray(0, 4096));
    poke(image, at(3) + 512, 'LABELONE\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00LVM2 001');
    poke(image, at(4), 'LUKS\xba\xbe\x00\x02');
    poke(image, at(5), '\xeb\x58\x90-FVE-FS-');
    poke(image, at(6), '\x00\x00\x00ReFS\x00\x00\x00\x00\x00\x00\x00\x00\x00FSRS');
    poke(image, at(7) + 0x10040, '_BHRfS_M');

    const reader = new BufferReader(readFileSync(image));
    const layout = await readPartitionTable(reader);
    assert.equal(layout.table, 'gpt');
    assert.deepEqual(
      layout.partitions.map((p) => ({ start: p.offsetBytes / 512, size: p.sizeBytes / 512, type: p.typeId, name: p.name })),
      table.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type, name: p.name })),
    );
    assert.deepEqual(
      layout.partitions.map((p) => p.index),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );

    const disk = await openDisk(reader);
    assert.deepEqual(
      disk.volumes.map((v) => [v.partition.index, v.type, v.supported]),
      [
        [1, 'ext4', true],
        [2, 'swap', false],
        [3, 'lvm', false],
        [4, 'luks', false],
        [5, 'bitlocker', false],
        [6, 'refs', false],
        [7, 'btrfs', false],
        [8, 'empty', false],
      ],
    );
    assert.equal(disk.volumes[0]!.label, 'cloudimg-rootfs');
    for (const v of disk.volumes.slice(1)) assert.ok(v.reason && v.reason.length > 10, `partition ${v.partition.index} says why`);
    assert.match(disk.volumes[4]!.reason!, /BitLocker/);
    assert.equal(chooseVolume(disk, undefined).partition.index, 1, 'the only readable filesystem is the default');
    assert.throws(
      () => chooseVolume(disk, 3),
      (e: unknown) => e instanceof VolumeChoiceError && e.code === 'FilesystemNotSupported',
    );
    const fs = disk.volumes[0]!.filesystem!;
    const etc = (await fs.readDir(fs.rootId)).find((e) => e.name === 'etc')!;
    const hostname = (await fs.readDir(etc.id)).find((e) => e.name === 'hostname')!;
    assert.equal(new TextDecoder().decode(await fs.readFile(hostname.id, 0, 100)), 'vm1\n');
  });

  void it('MBR with an extended partition: primaries and logicals numbered as sfdisk numbers them', async () => {
    requireTools('sfdisk', 'mke2fs');
    const image = path.join(dir, 'mbr.img');
    run('truncate', ['-s', '64M', image]);
    run(
      'sfdisk',
      ['-q', image],
      [
        'label: dos',
        'start=2048, size=20480, type=83',
        'size=8192, type=82',
        'size=8192, type=83',
        'size=40960, type=5',
        'size=8192, type=83',
        'size=16384, type=83',
      ].join('\n'),
    );
    const table = (JSON.parse(run('sfdisk', ['--json', image])) as SfdiskJson).partitiontable;
    const layout = await readPartitionTable(new BufferReader(readFileSync(image)));
    assert.equal(layout.table, 'mbr');
    const number = (node: string) => Number(/(\d+)$/.exec(node)![1]);
    assert.deepEqual(
      layout.partitions.map((p) => ({ n: p.index, start: p.offsetBytes / 512, size: p.sizeBytes / 512 })),
      table.partitions
        .filter((p) => p.type !== '5')
        .map((p) => ({ n: number(p.node), start: p.start, size: p.size }))
        .sort((a, b) => a.n - b.n),
    );
    const two = layout.partitions.filter((p) => p.index === 1 || p.index === 6);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', `offset=${two[0]!.offsetBytes}`, image, `${two[0]!.sizeBytes / 1024}k`]);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', `offset=${two[1]!.offsetBytes}`, image, `${two[1]!.sizeBytes / 1024}k`]);
    const disk = await openDisk(new BufferReader(readFileSync(image)));
    assert.deepEqual(
      disk.volumes.filter((v) => v.supported).map((v) => v.partition.index),
      [1, 6],
    );
    assert.throws(
      () => chooseVolume(disk, undefined),
      (e: unknown) => e instanceof VolumeChoiceError && e.code === 'PartitionRequired' && /--partition/.test(e.hint),
    );
    assert.equal(chooseVolume(disk, 6).partition.index, 6);
    assert.deepEqual(
      layout.partitions.map((p) => p.index),
      [1, 2, 3, 5, 6],
      'logical partitions are numbered from 5',
    );
  });

  void it('a filesystem on the whole disk is partition 0; an empty disk is named empty', async () => {
    requireTools('mke2fs');
    const image = path.join(dir, 'whole.img');
    run('truncate', ['-s', `${16}M`, image]);
    const empty = await openDisk(new BufferReader(readFileSync(image)));
    assert.deepEqual(
      empty.volumes.map((v) => [v.partition.index, v.type, v.supported]),
      [[0, 'empty', false]],
    );
    run('mke2fs', ['-q', '-F', '-t', 'ext4', image]);
    const disk = await openDisk(new BufferReader(readFileSync(image)));
    assert.equal(disk.table, 'none');
    assert.deepEqual(
      disk.volumes.map((v) => [v.partition.index, v.type, v.supported, v.partition.sizeBytes]),
      [[0, 'ext4', true, 16 * MiB]],
    );
  });

  void it('a looping extended-partition chain is an error naming the structure, not a hang', async () => {
    const bytes = new Uint8Array(4 * MiB);
    bytes[510] = 0x55;
    bytes[511] = 0xaa;
    const entry = (o: number, type: number, start: number, count: number, at: Uint8Array) => {
      at[o + 4] = type;
      new DataView(at.buffer).setUint32(o + 8, start, true);
      new DataView(at.buffer).setUint32(o + 12, count, true);
    };
    entry(446, 0x05, 2048, 4096, bytes);
    const ebr = 2048 * 512;
    bytes[ebr + 510] = 0x55;
    bytes[ebr + 511] = 0xaa;
    entry(ebr + 446, 0x83, 1, 100, bytes);
    entry(ebr + 462, 0x05, 0, 4096, bytes); // "next" points back at itself
    await assert.rejects(readPartitionTable(new BufferReader(bytes)), /MBR extended partition chain at byte 1048576: the chain loops/);
  });

  void it('recognises signatures from a partition head', () => {
    const head = new Uint8Array(68 * 1024);
    head.set(Buffer.from('SWAPSPACE2'), 4086);
    assert.equal(detectUnsupported(head), 'swap');
  });
});
