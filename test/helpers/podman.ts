/**
 * Container test images, built locally once per machine (no registry on the internet is reachable):
 * a root filesystem of Debian's static busybox plus a file only the image has, imported with
 * `podman import`. scripts/ensure-podman.sh installs podman, runc and busybox-static.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The test image (bump the tag when its contents change): busybox applets, and /etc/gigafab-image holding IMAGE_MARKER. */
export const TEST_IMAGE = 'localhost/gigafab-test:busybox-v2';
export const IMAGE_MARKER = 'this file exists only in the gigafab test image';

const APPLETS = [
  'sh',
  'echo',
  'cat',
  'sleep',
  'env',
  'ls',
  'dd',
  'true',
  'false',
  'nc',
  'printf',
  'trap',
  'pwd',
  'id',
  'grep',
  'sed',
  'tr',
  'head',
];

/** podmanAvailable: whether podman and the static busybox are installed (ensure-podman.sh's job). */
export function podmanAvailable(): boolean {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
    return existsSync('/bin/busybox');
  } catch {
    return false;
  }
}

/** ensureTestImage builds TEST_IMAGE unless podman already has it; returns its name. */
export function ensureTestImage(): string {
  if (!podmanAvailable()) throw new Error('podman or /bin/busybox is missing: run scripts/ensure-podman.sh (as root)');
  try {
    execFileSync('podman', ['image', 'exists', TEST_IMAGE], { stdio: 'ignore' });
    return TEST_IMAGE;
  } catch {
    // not there yet: build it
  }
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-image-'));
  try {
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'tmp'));
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'etc', 'gigafab-image'), `${IMAGE_MARKER}\n`);
    execFileSync('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
    execFileSync('podman', ['import', '--quiet', '--change', 'CMD ["/bin/sh"]', join(dir, 'rootfs.tar'), TEST_IMAGE], {
      stdio: 'ignore',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return TEST_IMAGE;
}
