// GeoIp: the one GeoIP lookup of Strata (the DNS server, the edge's geo filter, later the relays'
// country lists). Reads an MMDB file with maxmind (default: the CC0 country database shipped
// as a dependency), reloads it when the file changes, accepts both record shapes (CC0's
// `{ country_code }` and GeoLite2/GeoIP2's `{ country: { iso_code }, continent: { code } }`),
// derives the continent from the country when the record has none, and applies CIDR overrides.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { isIP } from 'node:net';
import { Reader, type Response } from 'maxmind';
import { StrataError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Service } from '../../shared/service.js';
import { continentOf } from './continents.js';
import { CidrOverrides, unmapped, type Override } from './cidr-overrides.js';
import type { GeoMetrics } from './geo-metrics.js';

/** The CC0 country database (@ip-location-db/geo-whois-asn-country-mmdb), used when geo.database is absent. */
export const defaultDatabase: string = createRequire(import.meta.url).resolve(
  '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb',
);

/** What Strata knows of a client address. */
export interface GeoAnswer {
  /** ISO 3166-1 alpha-2 code; undefined when the database does not know the address. */
  readonly country: string | undefined;
  /** AF, AN, AS, EU, NA, OC or SA; undefined when the country is unknown. */
  readonly continent: string | undefined;
  /** The region a CIDR override names; undefined otherwise (regions.ts places by country). */
  readonly region: string | undefined;
  /** How many leading bits of the address the answer holds for (an ECS answer's scope). */
  readonly prefixLength: number;
}

/** The lookup other parts take: an address (IPv4, IPv6 or IPv4-mapped) to what is known of it. */
export interface GeoLookup {
  lookup(ip: string): GeoAnswer;
}

/** The record fields Strata reads, in either shape. */
interface GeoRecord {
  country_code?: string;
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  continent?: { code?: string };
}

export interface GeoIpOptions {
  /** MMDB file; default: defaultDatabase. */
  database?: string;
  overrides?: readonly Override[];
  log: Logger;
  metrics?: GeoMetrics;
  /** Whether to reload the file when it changes (default true). */
  watch?: boolean;
}

const unknownAnswer: GeoAnswer = {
  country: undefined,
  continent: undefined,
  region: undefined,
  prefixLength: 0,
};

export class GeoIp implements Service, GeoLookup {
  readonly name = 'geoip';
  readonly file: string;
  private reader: Reader<Response> | undefined;
  private readonly overrides: CidrOverrides;
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  /** The reload in progress, so that a burst of change events reads the file once at a time. */
  private reloading: Promise<boolean> | undefined;

  constructor(private readonly options: GeoIpOptions) {
    this.file = options.database ?? defaultDatabase;
    this.overrides = new CidrOverrides(options.overrides ?? []);
  }

  /** Loads the database (GEO_DATABASE_INVALID when it cannot be read), then watches its file. */
  async start(): Promise<void> {
    this.reader = await this.read();
    this.options.metrics?.loaded(this.reader.metadata.buildEpoch);
    this.options.log.info(
      {
        database: this.file,
        type: this.reader.metadata.databaseType,
        built: this.reader.metadata.buildEpoch,
      },
      'geoip database loaded',
    );
    if (this.options.watch === false) return;
    // The directory, not the file: an update by rename (the safe way to replace it) replaces
    // the file's inode, which a watch on the file would miss.
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      // A file written in several chunks sends several events: read it once they stop.
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => void this.reload(), 100);
    });
    this.watcher.on('error', (err) =>
      this.options.log.warn({ err, database: this.file }, 'geoip watch failed'),
    );
  }

  async stop(): Promise<void> {
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
    this.watcher = undefined;
    await this.reloading;
  }

  /**
   * Reads the file again; a file that cannot be read or is no MMDB database leaves the one in
   * service (logged and counted). Resolves with whether the new one is in service.
   */
  reload(): Promise<boolean> {
    this.reloading ??= this.read()
      .then(
        (reader) => {
          this.reader = reader;
          this.options.metrics?.reloaded('ok', reader.metadata.buildEpoch);
          this.options.log.info(
            { database: this.file, built: reader.metadata.buildEpoch },
            'geoip database reloaded',
          );
          return true;
        },
        (err: StrataError) => {
          this.options.metrics?.reloaded('failed');
          this.options.log.warn(
            { code: err.code, database: this.file, err: err.message },
            'geoip reload failed, keeping the database in service',
          );
          return false;
        },
      )
      .finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async read(): Promise<Reader<Response>> {
    try {
      return new Reader<Response>(await readFile(this.file));
    } catch (err) {
      throw StrataError.because('GEO_DATABASE_INVALID', err, { database: this.file });
    }
  }

  /** What is known of `ip`: an override first, else the database's record. Not an address: unknown. */
  lookup(ip: string): GeoAnswer {
    const address = unmapped(ip);
    const matched = this.overrides.match(address);
    if (matched) {
      const { country, region } = matched.override;
      return {
        country,
        continent: country && continentOf(country),
        region,
        prefixLength: matched.prefixLength,
      };
    }
    if (!this.reader || isIP(address) === 0) return unknownAnswer;
    const [found, prefixLength] = this.reader.getWithPrefixLength(address);
    // Either shape, or a City record: only the fields of GeoRecord are read.
    const record = found as GeoRecord | null;
    const country = record ? countryOf(record) : undefined;
    const continent = record?.continent?.code ?? (country && continentOf(country));
    return { country, continent, region: undefined, prefixLength };
  }
}

/** The country of a record in either shape (GeoIP2's registered country when it has no other). */
function countryOf(record: GeoRecord): string | undefined {
  const code = record.country_code ?? record.country?.iso_code ?? record.registered_country?.iso_code;
  return code?.toUpperCase();
}
