/**
 * The record format of every file under `dataDir/events`: one line per record,
 *
 *   <crc32 of the JSON, 8 hex digits> <JSON>\n
 *
 * so a reader tells a whole record from what a crash left: a last line with no newline, or whose
 * checksum does not match, is a torn write (the record was never acknowledged: it is ignored, and
 * the writer cuts it off before appending again). JSON.stringify escapes every newline a value may
 * hold, so a record is always one line.
 */
import { crc32 } from 'node:zlib';

export function frameRecord(value: unknown): string {
  const json = JSON.stringify(value);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export interface ParsedRecords<T> {
  readonly values: T[];
  /** Bytes from the start that hold whole, valid records: where the next append belongs. */
  readonly validBytes: number;
  /** Records in the middle that did not check (disk damage): skipped. */
  readonly damaged: number;
  /** Whether the end held a torn record (cut off at validBytes). */
  readonly torn: boolean;
}

function parseLine(line: string): unknown {
  const match = /^([0-9a-f]{8}) (.*)$/s.exec(line);
  if (!match || parseInt(match[1] as string, 16) !== crc32(match[2] as string)) return undefined;
  try {
    return JSON.parse(match[2] as string) as unknown;
  } catch {
    return undefined;
  }
}

export function parseRecords<T>(buffer: Buffer): ParsedRecords<T> {
  const values: T[] = [];
  let offset = 0;
  let validBytes = 0;
  let damaged = 0;
  let torn = false;
  while (offset < buffer.length) {
    const newline = buffer.indexOf(0x0a, offset);
    const end = newline === -1 ? buffer.length : newline + 1;
    const value = newline === -1 ? undefined : (parseLine(buffer.toString('utf8', offset, newline)) as T | undefined);
    const last = end >= buffer.length;
    if (value !== undefined) {
      values.push(value);
      validBytes = end;
    } else if (last) {
      torn = true;
    } else {
      damaged += 1;
      validBytes = end;
    }
    offset = end;
  }
  return { values, validBytes, damaged, torn };
}
