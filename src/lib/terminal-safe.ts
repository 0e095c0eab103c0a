/**
 * Text that people choose and administrators later read in a terminal (a token's name, a user or
 * group name from an identity provider) must not carry what a terminal or a bidirectional text
 * renderer acts on: C0 and C1 controls and DEL (U+009B is CSI, as ESC [ is: it clears screens and
 * moves the cursor in terminals that honour C1), and the bidirectional formatting characters
 * (overrides, embeddings, isolates, marks) that make text display in another order than it is
 * stored ("Trojan Source"). Other Unicode, joiners of emoji included, is text.
 */

// eslint-disable-next-line no-control-regex -- control characters are what this finds
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Whether `text` holds a control or bidirectional formatting character. */
export function hasTerminalControl(text: string): boolean {
  return TERMINAL_CONTROL.test(text);
}
