// Certificates: the HTTPS listener's certificates, picked by SNI name (exact, then *.wildcard,
// as the names in each certificate say), reloaded from disk when their files change or on
// SIGHUP without touching open connections, and watched for expiry (a metric, and a warning
// 14 days ahead). A certificate that fails to load on reload is refused; the old one keeps serving.

import { stat, readFile } from 'node:fs/promises';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { StrataError } from '../errors.js';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
  readonly chain?: string;
}

/** One certificate as loaded: its PEM, the names it serves, its validity and its TLS context. */
export interface LoadedCertificate {
  readonly files: CertificateFiles;
  /** Lowercased DNS names (subjectAltName, else the common name); wildcards as "*.example.test". */
  readonly names: readonly string[];
  readonly notAfterMs: number;
  readonly notBeforeMs: number;
  /** cert + chain, key: what the listener's default context is made of. */
  readonly pem: { cert: string; key: string };
  readonly context: SecureContext;
}

/** The certificates in service at one time: replaced whole by a reload, never changed. */
export class CertificateSet {
  private readonly exact = new Map<string, LoadedCertificate>();
  /** By the suffix after the wildcard, ".example.test" for "*.example.test". */
  private readonly wildcard = new Map<string, LoadedCertificate>();

  constructor(
    readonly certificates: readonly LoadedCertificate[],
    /** For clients without SNI, or with a name no certificate holds. */
    readonly fallback: LoadedCertificate,
  ) {
    // The first certificate listed that holds a name serves it.
    for (const cert of certificates) {
      for (const name of cert.names) {
        const map = name.startsWith('*.') ? this.wildcard : this.exact;
        const key = name.startsWith('*.') ? name.slice(1) : name;
        if (!map.has(key)) map.set(key, cert);
      }
    }
  }

  /**
   * The certificate for an SNI name, or undefined (then the fallback serves). RFC 6125 §6.4.3:
   * a wildcard stands for exactly one whole left-most label, so "*.example.test" covers
   * "a.example.test" but neither "example.test" nor "a.b.example.test".
   */
  lookup(servername: string): LoadedCertificate | undefined {
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    const exact = this.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return dot > 0 ? this.wildcard.get(name.slice(dot)) : undefined;
  }
}

/** The DNS names a certificate serves: its subjectAltName DNS entries, else its common name. */
export function certificateNames(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (x509.subjectAltName ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase());
  }
  if (names.length > 0) return names;
  const cn = /^CN=(.*)$/m.exec(x509.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/**
 * Reads and checks one certificate: the files are readable, the certificate parses, the key
 * matches it, and a TLS context can be made of them. Throws CONFIG_INVALID naming the file.
 */
export async function loadCertificate(
  files: CertificateFiles,
  options: SecureContextOptions,
): Promise<LoadedCertificate> {
  const read = async (file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new StrataError(
        'CONFIG_INVALID',
        `cannot read ${file}: ${(err as Error).message}`,
        { file },
        err,
      );
    }
  };
  const [certPem, keyPem, chainPem] = await Promise.all([
    read(files.cert),
    read(files.key),
    files.chain === undefined ? Promise.resolve('') : read(files.chain),
  ]);
  const bad = (what: string, err: unknown, file: string) =>
    new StrataError('CONFIG_INVALID', `${file}: ${what}: ${(err as Error).message}`, { file }, err);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw bad('not a PEM certificate', err, files.cert);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(keyPem)))
      throw new Error(`the key does not belong to the certificate in ${files.cert}`);
  } catch (err) {
    throw bad('unusable private key', err, files.key);
  }
  const cert = chainPem ? `${certPem.trimEnd()}\n${chainPem}` : certPem;
  let context: SecureContext;
  try {
    context = createSecureContext({ ...options, cert, key: keyPem });
  } catch (err) {
    throw bad('cannot make a TLS context', err, files.chain ?? files.cert);
  }
  return {
    files,
    names: certificateNames(x509),
    notAfterMs: Date.parse(x509.validTo),
    notBeforeMs: Date.parse(x509.validFrom),
    pem: { cert, key: keyPem },
    context,
  };
}

/** How far ahead an expiring certificate is warned about. */
export const expiryWarningMs = 14 * 86_400_000;

export interface CertificatesOptions {
  certificates: readonly CertificateFiles[];
  defaultCertificate?: CertificateFiles;
  /** TLS settings every context shares (versions, ciphers). */
  secure: SecureContextOptions;
  /** How often the files are checked for changes (listen.https.reloadCheck). */
  reloadCheckMs: number;
  log: Logger;
  metrics: Metrics;
  /** Runs after a reload put a new set in service (the listener replaces its default context). */
  onReload(set: CertificateSet): void;
}

export class Certificates {
  private current: CertificateSet | undefined;
  /** File signatures (mtime, size, inode) the last load attempt saw, to notice changes. */
  private seen = '';
  private watch: NodeJS.Timeout | undefined;
  private expiryCheck: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;
  private readonly reloads: Counter<'result'>;

  constructor(private readonly options: CertificatesOptions) {
    const registers = [options.metrics.registry];
    this.reloads = new Counter({
      name: 'strata_tls_certificate_reloads_total',
      help: 'Certificate reloads (files changed, or SIGHUP), by result: ok, or failed (the old certificates kept serving).',
      labelNames: ['result'] as const,
      registers,
    });
    const certs = () => this.current?.certificates ?? [];
    new Gauge({
      name: 'strata_tls_certificate_expiry_timestamp_seconds',
      help: 'When each certificate in service expires (notAfter), in seconds since the epoch.',
      labelNames: ['certificate', 'name'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of certs())
          this.set({ certificate: c.files.cert, name: c.names[0] ?? '' }, c.notAfterMs / 1000);
      },
    });
  }

  /** The set in service; defined once start() resolved. */
  get set(): CertificateSet {
    if (!this.current) throw new Error('certificates not loaded');
    return this.current;
  }

  /** The SNI callback of the TLS server: the certificate for a name, else the default context. */
  readonly sni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.current?.lookup(servername)?.context);
  };

  /** Loads every certificate (a failure stops start-up naming the file), then watches the files. */
  async start(): Promise<void> {
    this.seen = await this.signature();
    this.current = await this.loadAll();
    this.warnExpiring(this.current);
    this.watch = setInterval(() => void this.checkFiles(), this.options.reloadCheckMs);
    this.watch.unref();
    this.expiryCheck = setInterval(() => this.current && this.warnExpiring(this.current), 12 * 3_600_000);
    this.expiryCheck.unref();
  }

  stop(): void {
    clearInterval(this.watch);
    clearInterval(this.expiryCheck);
  }

  /**
   * Loads the files again and, if every certificate is good, puts the new set in service for new
   * handshakes (open connections keep theirs). Resolves with whether it did. Runs on SIGHUP and
   * when the files changed; concurrent calls share one reload.
   */
  reload(reason: 'changed' | 'signal' | 'request'): Promise<boolean> {
    this.reloading ??= this.reloadNow(reason).finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async reloadNow(reason: string): Promise<boolean> {
    const log = this.options.log;
    this.seen = await this.signature();
    let set: CertificateSet;
    try {
      set = await this.loadAll();
      const now = Date.now();
      for (const c of set.certificates) {
        if (c.notAfterMs <= now)
          throw new Error(`${c.files.cert} expired on ${new Date(c.notAfterMs).toISOString()}`);
        if (c.notBeforeMs > now)
          throw new Error(`${c.files.cert} is not valid before ${new Date(c.notBeforeMs).toISOString()}`);
      }
    } catch (err) {
      this.reloads.inc({ result: 'failed' });
      log.error(
        { reason, err: (err as Error).message },
        'certificate reload refused: the certificates in service keep serving',
      );
      return false;
    }
    this.current = set;
    this.options.onReload(set);
    this.reloads.inc({ result: 'ok' });
    log.info(
      { reason, certificates: set.certificates.map((c) => ({ cert: c.files.cert, names: c.names })) },
      'certificates reloaded',
    );
    this.warnExpiring(set);
    return true;
  }

  private async loadAll(): Promise<CertificateSet> {
    const { certificates, defaultCertificate, secure } = this.options;
    const loaded = await Promise.all(certificates.map((files) => loadCertificate(files, secure)));
    const fallback = defaultCertificate ? await loadCertificate(defaultCertificate, secure) : loaded[0];
    return new CertificateSet(loaded, fallback);
  }

  /** Every certificate, key and chain file's mtime, size and inode, as one string. */
  private async signature(): Promise<string> {
    const files = [...this.options.certificates, this.options.defaultCertificate].flatMap((f) =>
      f ? [f.cert, f.key, ...(f.chain === undefined ? [] : [f.chain])] : [],
    );
    const parts = await Promise.all(
      files.map((file) =>
        stat(file).then(
          (s) => `${s.mtimeMs}:${s.size}:${s.ino}`,
          () => 'missing', // a file being replaced; the next check sees the new one
        ),
      ),
    );
    return parts.join('|');
  }

  /** The periodic check: a reload when any file changed since the last attempt. */
  private async checkFiles(): Promise<void> {
    if (this.reloading) return;
    if ((await this.signature()) !== this.seen) await this.reload('changed');
  }

  private warnExpiring(set: CertificateSet): void {
    const now = Date.now();
    for (const c of new Set([...set.certificates, set.fallback])) {
      const left = c.notAfterMs - now;
      if (left > expiryWarningMs) continue;
      const fields = {
        certificate: c.files.cert,
        names: c.names,
        notAfter: new Date(c.notAfterMs).toISOString(),
        daysLeft: Math.floor(left / 86_400_000),
      };
      if (left <= 0) this.options.log.error(fields, 'certificate has expired');
      else this.options.log.warn(fields, 'certificate expires within 14 days');
    }
  }
}
