/**
 * User names as a directory compares them. htpasswd matches names byte for byte; LDAP and Active
 * Directory match them by their string preparation (RFC 4518: compatibility-normalised, case-folded,
 * invisible characters dropped, white space runs as one space), so `CAROL`, `ｃａｒｏｌ` and
 * `car\u00ADol` are all `carol` there. One fold for every place that must see two spellings as one
 * name: the provider chain (a name an earlier provider owns in any spelling is not a later
 * provider's to decide) and login throttling (one account, one counter).
 *
 * It errs on folding too much, never too little: upper- then lower-casing also folds what full
 * case folding does (ß → ss, ς → σ, ſ → s) and a little more (the dotless ı → i). For both uses a
 * spurious match only refuses or counts more, while a missed one would let a spelling through.
 * Written here because no maintained package does LDAP's preparation with case folding (SASLprep,
 * RFC 4013, does not fold case).
 */

// Default-ignorable code points (soft hyphen, zero-width joiners and spaces, variation selectors,
// BOM…): invisible, and mapped to nothing by directories.
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
const SPACES = /\s+/gu;

export function foldUserName(name: string): string {
  return name.normalize('NFKC').replace(IGNORABLE, '').toUpperCase().toLowerCase().normalize('NFKC').replace(SPACES, ' ').trim();
}
