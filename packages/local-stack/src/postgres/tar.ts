// Reads the regular files of a gzip-compressed POSIX tar archive (ustar and
// pax), enough for extension packages; links and devices are skipped.
import { gunzipSync } from 'node:zlib';

export interface TarEntry {
  path: string;
  content: Buffer;
}

const BLOCK_SIZE = 512;

function readString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function readOctal(block: Buffer, start: number, length: number): number {
  const text = readString(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

// A pax header is a list of "<length> <key>=<value>\n" records.
function readPaxPath(content: Buffer): string | undefined {
  let offset = 0;
  while (offset < content.length) {
    const space = content.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(content.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = content.subarray(space + 1, offset + length - 1).toString('utf8');
    if (record.startsWith('path=')) return record.slice('path='.length);
    offset += length;
  }
  return undefined;
}

/** Lists the regular files in a .tar.gz archive with their contents. */
export function readTarGz(archive: Buffer): TarEntry[] {
  const tar = gunzipSync(archive);
  const entries: TarEntry[] = [];
  let offset = 0;
  let nextPath: string | undefined;

  while (offset + BLOCK_SIZE <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK_SIZE);
    if (header.every((byte) => byte === 0)) break;

    const name = readString(header, 0, 100);
    const size = readOctal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = readString(header, 345, 155);
    const content = tar.subarray(offset + BLOCK_SIZE, offset + BLOCK_SIZE + size);
    offset += BLOCK_SIZE + Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;

    if (type === 'x') {
      nextPath = readPaxPath(content);
      continue;
    }
    if (type === 'L') {
      nextPath = content.toString('utf8').replace(/\0+$/, '');
      continue;
    }

    const path = nextPath ?? (prefix === '' ? name : `${prefix}/${name}`);
    nextPath = undefined;
    if (type === '0' || type === '\0') {
      entries.push({ path, content: Buffer.from(content) });
    }
  }
  return entries;
}
