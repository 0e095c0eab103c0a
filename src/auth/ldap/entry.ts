/**
 * Reading a user's directory entry: attribute values, and the user's name. The name always comes
 * from the entry's naming attribute, never from what was typed: a typed name is only the question
 * ("who is carol?"), and the answer must be an entry whose name is carol, not one that the user
 * filter also matches by another attribute (an e-mail address a user may set to `carol`).
 */
import type { Entry } from 'ldapts';
import { foldUserName } from '../user-name.js';

/** An attribute's values as strings, looked up case-insensitively (directories return their own spelling). */
export function attributeValues(entry: Entry, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'dn' || key.toLowerCase() !== wanted) continue;
    const values = Array.isArray(value) ? value : [value];
    return values.map((item) => (Buffer.isBuffer(item) ? item.toString('utf8') : item));
  }
  return [];
}

/** The name an entry answers to, or why it answers to none. */
export type EntryName = { readonly name: string } | { readonly refused: 'not-its-name' | 'several-spellings' };

/**
 * The entry's name for a login typed as `typed`: the one value of `namingAttribute` that is the
 * typed name as a directory compares names (foldUserName), in the entry's own spelling. Refused
 * when no value is (the entry was matched by something else) or several are (`uid: carol` and
 * `uid: Carol`: no one spelling is the name).
 */
export function entryName(entry: Entry, namingAttribute: string, typed: string): EntryName {
  const wanted = foldUserName(typed);
  const matching = attributeValues(entry, namingAttribute).filter((value) => foldUserName(value) === wanted);
  if (matching.length === 1) return { name: matching[0] as string };
  return { refused: matching.length === 0 ? 'not-its-name' : 'several-spellings' };
}
