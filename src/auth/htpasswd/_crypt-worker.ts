/**
 * Worker thread for the crypt(3)-style hashes computed in JavaScript (SHA-crypt, MD5-crypt/apr1):
 * a $6$ hash at the default 5000 rounds costs ~12 ms of CPU, which must not block the event loop.
 * Receives {id, scheme, password, settings}, answers {id, value} (the full crypt string) or {id, error}.
 */
import { parentPort } from 'node:worker_threads';
import apacheMd5 from 'apache-md5';
import { encrypt } from 'unixcrypt';
import type { CryptJob, CryptReply } from './_crypt-pool.js';

function derive(job: CryptJob): string {
  if (job.scheme === 'sha-crypt') return encrypt(job.password, job.settings);
  // apache-md5 hashes each UTF-16 code unit as one byte ("ascii" encoding); feeding it the UTF-8
  // bytes as a latin1 string makes it hash what Apache's htpasswd hashes.
  return apacheMd5(Buffer.from(job.password, 'utf8').toString('latin1'), job.settings + '$');
}

parentPort?.on('message', (message: { id: number } & CryptJob) => {
  let reply: CryptReply;
  try {
    reply = { id: message.id, value: derive(message) };
  } catch (error) {
    reply = { id: message.id, error: error instanceof Error ? error.message : 'crypt failed' };
  }
  parentPort?.postMessage(reply);
});
