/**
 * A real client end to end: `skopeo copy` of a multi-layer OCI image into a target and back out
 * to an OCI layout, timed in seconds. Every copy gets a freshly generated image (random layers), so
 * no layer already exists in the shared Distribution storage; the image and its copy are deleted
 * afterwards, and its blobs reclaimed from the target's storage.
 */
import { join } from 'node:path';
import { removeDir } from '../test/helpers/process.js';
import { makeOciImage } from '../test/helpers/oci-image.js';
import { assertSkopeoOk, dockerRef, skopeoCopy, type RegistryAccess } from '../test/helpers/skopeo.js';
import { reclaimBlobs } from './blobs.js';
import { BENCH_USER, type Target } from './targets.js';

export const SKOPEO_REPO = 'bench/skopeo';

export interface SkopeoTimes {
  inSeconds: number;
  outSeconds: number;
}

function accessFor(target: Target, password: string): RegistryAccess {
  const https = target.url.startsWith('https:');
  return {
    creds: { user: BENCH_USER, password },
    tlsVerify: https,
    ...(https && target.caDir ? { certDir: target.caDir } : {}),
  };
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function skopeoRoundTrip(options: {
  target: Target;
  password: string;
  workDir: string;
  layers: number[];
  tag: string;
  timeoutMs: number;
}): Promise<SkopeoTimes> {
  const { target, tag } = options;
  const imageDir = join(options.workDir, `image-${tag}`);
  const outDir = join(options.workDir, `out-${tag}`);
  const access = accessFor(target, options.password);
  const remote = dockerRef(new URL(target.url).host, SKOPEO_REPO, tag);
  try {
    const image = await makeOciImage(imageDir, { tag, layers: options.layers });
    const inSeconds = await timed(async () => {
      assertSkopeoOk(await skopeoCopy({ from: image.ref, to: remote, dest: access, preserveDigests: true, timeoutMs: options.timeoutMs }));
    });
    const outSeconds = await timed(async () => {
      assertSkopeoOk(
        await skopeoCopy({
          from: remote,
          to: `oci:${outDir}:${tag}`,
          src: access,
          ociAcceptUncompressed: true,
          preserveDigests: true,
          timeoutMs: options.timeoutMs,
        }),
      );
    });
    await reclaimBlobs(target.storage, [SKOPEO_REPO], [...image.layerDigests, image.configDigest]);
    return { inSeconds, outSeconds };
  } finally {
    await removeDir(imageDir);
    await removeDir(outDir);
  }
}
