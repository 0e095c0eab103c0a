declare module 'apache-md5' {
  /** The $apr1$ (or, when the salt starts with $1$, MD5-crypt) hash of `password`; salt is `$apr1$SALT$…` or omitted. */
  function apacheMd5(password: string, salt?: string): string;
  export default apacheMd5;
}
