/**
 * What identifies a directory user's current password without reading it: the entry's DN and the
 * first change marker the directory keeps, in this order —
 *
 *   pwdChangedTime   the password policy overlay's (OpenLDAP ppolicy, 389-ds, and others): set when
 *                    the password changes, and only then
 *   pwdLastSet       Active Directory's
 *   modifyTimestamp  any change of the entry (with OpenLDAP's entryCSN, which tells apart two
 *   + entryCSN       changes within one second)
 *
 * Without a password change time, any change of the entry (a new e-mail address, or a group
 * membership where the memberOf overlay writes it to the entry) ends the user's UI sessions and
 * refresh tokens as a new password does: they log in again. A directory that keeps none of these
 * (or hides them from the service account) leaves only the DN: a changed password then ends
 * nothing until the session or token expires, a renamed or deleted entry still does.
 */
export const CREDENTIAL_ATTRIBUTES = ['pwdChangedTime', 'pwdLastSet', 'modifyTimestamp', 'entryCSN'] as const;

/** The credential of an entry (AuthOutcome.credential), from its DN and its values of CREDENTIAL_ATTRIBUTES. */
export function directoryCredential(dn: string, values: (attribute: string) => readonly string[]): string {
  const [changed, lastSet, modified, csn] = CREDENTIAL_ATTRIBUTES.map((attribute) => values(attribute).join(','));
  const marker = changed ? `pwdChangedTime=${changed}` : lastSet ? `pwdLastSet=${lastSet}` : `modified=${modified ?? ''};${csn ?? ''}`;
  return `${dn}\n${marker}`;
}
