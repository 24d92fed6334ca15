/**
 * Container test images, built locally once per machine (no registry on the internet is reachable):
 * a root filesystem of Debian's static busybox plus a file only the image has, imported with
 * `podman import`. scripts/ensure-podman.sh installs podman, runc and busybox-static.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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

/**
 * An image with OpenSSH's server for the ssh preset in images (bump the tag when its contents change):
 * the static busybox (every applet) plus this machine's Debian sshd, ssh-keygen and sftp-server with the
 * shared libraries they link (ldd), root and sshd's privilege-separation account. Built offline.
 */
export const SSHD_IMAGE = 'localhost/gigafab-test:sshd-v1';
const SSHD_FILES = ['/usr/sbin/sshd', '/usr/bin/ssh-keygen', '/usr/lib/openssh/sftp-server'];

/** sshdImageBuildable: podman, busybox and the host's OpenSSH server are installed. */
export function sshdImageBuildable(): boolean {
  return podmanAvailable() && SSHD_FILES.every((f) => existsSync(f));
}

/** ensureSshdImage builds SSHD_IMAGE unless podman already has it; returns its name. */
export function ensureSshdImage(): string {
  try {
    execFileSync('podman', ['image', 'exists', SSHD_IMAGE], { stdio: 'ignore' });
    return SSHD_IMAGE;
  } catch {
    // not there yet: build it
  }
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-sshd-image-'));
  try {
    const root = join(dir, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'root', 'run', 'usr/sbin', 'usr/bin', 'usr/lib/openssh']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(root, 'bin', a));
    const libs = new Set<string>();
    for (const f of SSHD_FILES) {
      copyFileSync(f, join(root, f));
      chmodSync(join(root, f), 0o755);
      // ldd lines: `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`.
      for (const m of execFileSync('ldd', [f], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)) libs.add(m[1]!);
    }
    for (const lib of libs) {
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib));
    }
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/bin/false\n');
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    writeFileSync(join(root, 'etc', 'gigafab-image'), `${IMAGE_MARKER}\n`);
    execFileSync('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
    execFileSync('podman', ['import', '--quiet', '--change', 'CMD ["/bin/sh"]', join(dir, 'rootfs.tar'), SSHD_IMAGE], {
      stdio: 'ignore',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return SSHD_IMAGE;
}
