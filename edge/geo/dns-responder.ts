// DnsResponder: one DNS query in, one response out (or nothing: a malformed packet is dropped).
// Authoritative for the CDN's zone: A/AAAA for the configured names with the healthy edges of
// the client's region (the EDNS Client Subnet when the query has one, else the resolver), the
// next region in nearness order when none is healthy, SOA and NS at the apex, NXDOMAIN and
// NODATA with the SOA for negative caching, REFUSED outside the zone. Transport-free: the
// server (dns-server.ts) gives the bytes and the transport, which sets how large an answer may be.

import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Question } from 'dns-packet';
import { isIPv4 } from 'node:net';
import type { DnsConfig } from '../../shared/config/config.js';
import type { Logger } from '../../shared/log.js';
import type { EdgeHealth } from './edge-health.js';
import type { GeoLookup } from './geoip.js';
import type { DnsMetrics } from './dns-metrics.js';
import type { Regions } from './regions.js';
import { clientSubnet, subnetOption, type ClientSubnet } from './ecs.js';

export type Transport = 'udp' | 'tcp';

/** RFC 1035 §4.1.1 and RFC 6891 §9 response codes this server sends. */
export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'BADVERS';
const rcodeValue: Record<Rcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
};

/** RFC 1035 §4.2.1: without EDNS, UDP messages are at most 512 bytes. */
const classicUdpBytes = 512;
/** RFC 1035 §4.2.2: a TCP message's length is a 16-bit field. */
const tcpBytes = 65_535;

export interface DnsResponderOptions {
  config: DnsConfig;
  regions: Regions;
  geo: GeoLookup;
  health: EdgeHealth;
  metrics: DnsMetrics;
  log: Logger;
  /** The SOA serial; default: seconds since the epoch when the responder was made. */
  serial?: number;
}

/** What a query asks once its header and EDNS are understood. */
interface Query {
  packet: DecodedPacket;
  question: Question;
  /** The question name in lowercase without a trailing dot. */
  name: string;
  opt: OptAnswer | undefined;
  subnet: ClientSubnet | undefined;
  /** The most bytes the response may have. */
  limit: number;
}

/** The parts of a response before encoding. */
interface Reply {
  rcode: Rcode;
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** ECS scope prefix length for the answer (0: the answer holds for every client). */
  scope: number;
  /** The region whose edges answered, and the client's own (metrics). */
  region?: { client: string; answered: string };
}

export class DnsResponder {
  private readonly zone: string;
  private readonly names: ReadonlySet<string>;
  /** In-zone names that exist without records of their own (RFC 8020: NODATA, not NXDOMAIN). */
  private readonly emptyNames: ReadonlySet<string>;
  private readonly nameservers: readonly { name: string; addresses: readonly string[] }[];
  private readonly soa: Answer;
  private rotation = 0;

  constructor(private readonly options: DnsResponderOptions) {
    const { config } = options;
    this.zone = lower(config.zone);
    this.names = new Set(config.names.map(lower));
    this.nameservers =
      config.nameservers.length > 0
        ? config.nameservers.map((n) => ({ name: lower(n.name), addresses: n.addresses }))
        : [{ name: `ns1.${this.zone}`, addresses: [] }];
    const owned = [...this.names, ...this.nameservers.map((n) => n.name).filter((n) => this.inZone(n))];
    const empty = new Set<string>();
    for (const n of owned) {
      for (let parent = parentOf(n); parent !== undefined && parent !== this.zone; parent = parentOf(parent))
        if (this.inZone(parent)) empty.add(parent);
    }
    this.emptyNames = empty;
    this.soa = {
      name: this.zone,
      type: 'SOA',
      ttl: config.ttl,
      data: {
        mname: this.nameservers[0].name,
        rname: `hostmaster.${this.zone}`,
        serial: (options.serial ?? Math.floor(Date.now() / 1000)) >>> 0,
        refresh: 3600,
        retry: 600,
        expire: 604_800,
        // RFC 2308 §4: the SOA minimum is the TTL of negative answers.
        minimum: config.ttl,
      },
    };
  }

  /**
   * The response to `bytes` from `resolver` over `transport`, or undefined when the packet is
   * dropped: it cannot be decoded, or it is a response (answering one could start a loop).
   */
  respond(bytes: Buffer, transport: Transport, resolver: string): Buffer | undefined {
    const { metrics } = this.options;
    let packet: DecodedPacket;
    try {
      packet = dnsPacket.decode(bytes);
    } catch {
      // Anything dns-packet cannot read is no query: counted, never answered.
      metrics.dropped(transport, 'malformed');
      return undefined;
    }
    if (packet.flag_qr) {
      metrics.dropped(transport, 'response');
      return undefined;
    }
    let rcode: Rcode = 'SERVFAIL';
    let response: Buffer;
    try {
      const [reply, query] = this.reply(packet, bytes, transport, resolver);
      rcode = reply.rcode;
      response = this.encode(packet, bytes, reply, query, transport);
    } catch (err) {
      this.options.log.error({ err, resolver }, 'dns answer failed');
      response = this.encode(packet, bytes, failure('SERVFAIL'), undefined, transport);
    }
    metrics.answered(transport, rcode);
    return response;
  }

  /** The reply to a decoded query, and the query when it was understood (for EDNS in the response). */
  private reply(
    packet: DecodedPacket,
    bytes: Buffer,
    transport: Transport,
    resolver: string,
  ): [Reply, Query | undefined] {
    // RFC 1035 §4.1.1: the opcode is bits 11-14 of the flags; only QUERY (0) is implemented.
    if (((bytes.readUInt16BE(2) >> 11) & 0xf) !== 0) return [failure('NOTIMP'), undefined];
    const opts = (packet.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
    // RFC 6891 §6.1.1: more than one OPT record is a FORMERR.
    if (opts.length > 1) return [failure('FORMERR'), undefined];
    const opt = opts[0];
    const questions = packet.questions ?? [];
    if (questions.length !== 1) return [failure('FORMERR'), undefined];
    const question = questions[0];
    let subnet: ClientSubnet | undefined;
    if (opt) {
      // RFC 6891 §6.1.3: a version the server does not implement is answered BADVERS.
      if (opt.ednsVersion !== 0) return [failure('BADVERS'), undefined];
      const ecs = clientSubnet(opt.options ?? []);
      // RFC 7871 §7.1.1: an invalid ECS option is answered FORMERR.
      if (ecs === 'invalid') return [failure('FORMERR'), undefined];
      subnet = ecs;
    }
    const limit =
      transport === 'tcp'
        ? tcpBytes
        : opt
          ? // RFC 6891 §6.2.5: values below 512 are treated as 512.
            Math.min(Math.max(opt.udpPayloadSize, classicUdpBytes), this.options.config.maxUdpPayload)
          : classicUdpBytes;
    const query: Query = { packet, question, name: lower(question.name), opt, subnet, limit };
    return [this.answer(query, resolver), query];
  }

  private answer(query: Query, resolver: string): Reply {
    const { name, question } = query;
    if (question.class !== 'IN' || !this.inZone(name)) return { ...failure('REFUSED'), authoritative: false };
    const type = question.type as string;
    if (this.names.has(name) && (type === 'A' || type === 'AAAA' || type === 'ANY'))
      return this.edgesAnswer(query, resolver);
    if (name === this.zone && (type === 'SOA' || type === 'NS' || type === 'ANY'))
      return this.apexAnswer(type);
    const nameserver = this.nameservers.find((n) => n.name === name);
    if (nameserver && (type === 'A' || type === 'AAAA')) {
      const answers = this.addresses(nameserver.name, nameserver.addresses, type);
      return answers.length > 0 ? ok(answers) : this.negative('NOERROR');
    }
    const exists =
      name === this.zone || this.names.has(name) || nameserver !== undefined || this.emptyNames.has(name);
    return this.negative(exists ? 'NOERROR' : 'NXDOMAIN');
  }

  /** SOA, or NS with the addresses of in-zone name servers as glue (RFC 1034 §4.2.1). */
  private apexAnswer(type: string): Reply {
    if (type === 'SOA' || type === 'ANY') return ok([this.soa]);
    const answers: Answer[] = this.nameservers.map((n) => ({
      name: this.zone,
      type: 'NS',
      ttl: this.options.config.ttl,
      data: n.name,
    }));
    const glue = this.nameservers
      .filter((n) => this.inZone(n.name))
      .flatMap((n) => [
        ...this.addresses(n.name, n.addresses, 'A'),
        ...this.addresses(n.name, n.addresses, 'AAAA'),
      ]);
    return { ...ok(answers), additionals: glue };
  }

  /**
   * The healthy edges of the client's region, or of the nearest region with one; with none
   * healthy anywhere, the client's region's edges all the same (an answer that may work beats
   * none). ANY is answered with the A records (RFC 8482 §4.1: one RRset is enough).
   */
  private edgesAnswer(query: Query, resolver: string): Reply {
    const { geo, regions, health } = this.options;
    const subnet = query.subnet;
    // RFC 7871 §7.1.2: a SOURCE PREFIX-LENGTH of 0 asks that the client's address not be used.
    const client = subnet && subnet.sourcePrefixLength > 0 ? subnet.address : resolver;
    const where = geo.lookup(client);
    const home = regions.regionOf(where) ?? '';
    let answered: string | undefined;
    let edges: string[] = [];
    for (const r of regions.nearness(home)) {
      edges = regions
        .edges(r)
        .map((e) => e.address)
        .filter((a) => health.healthy(a));
      if (edges.length > 0) {
        answered = r;
        break;
      }
    }
    if (answered === undefined) {
      answered = home;
      edges = regions.edges(home).map((e) => e.address);
      this.options.metrics.allDown();
    }
    const type = query.question.type === 'AAAA' ? 'AAAA' : 'A';
    const family = edges.filter((a) => isIPv4(a) === (type === 'A'));
    const picked = this.rotate(family);
    const scope = subnet && subnet.sourcePrefixLength > 0 ? where.prefixLength : 0;
    const region = { client: home, answered };
    if (picked.length === 0) return { ...this.negative('NOERROR'), scope, region };
    return { ...ok(this.addresses(query.question.name, picked, type)), scope, region };
  }

  /** At most maxAnswers of `list`, starting one further along at each answer (round robin). */
  private rotate(list: string[]): string[] {
    const n = list.length;
    if (n <= 1) return list;
    const start = this.rotation++ % n;
    const count = Math.min(n, this.options.config.maxAnswers);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(list[(start + i) % n]);
    return out;
  }

  private addresses(name: string, addresses: readonly string[], type: 'A' | 'AAAA'): Answer[] {
    const ttl = this.options.config.ttl;
    return addresses.filter((a) => isIPv4(a) === (type === 'A')).map((data) => ({ name, type, ttl, data }));
  }

  /** NXDOMAIN, or NODATA (NOERROR without answers): the SOA in authority for negative caching (RFC 2308 §3). */
  private negative(rcode: 'NOERROR' | 'NXDOMAIN'): Reply {
    return { rcode, authoritative: true, answers: [], authorities: [this.soa], additionals: [], scope: 0 };
  }

  private inZone(name: string): boolean {
    return name === this.zone || name.endsWith(`.${this.zone}`);
  }

  /**
   * Encodes the reply within the query's size limit: when it does not fit, the answer is
   * sent empty with TC set (RFC 1035 §4.2.1; RFC 7766: the client retries over TCP), so no
   * answer is ever larger than the query allowed.
   */
  private encode(
    packet: DecodedPacket,
    bytes: Buffer,
    reply: Reply,
    query: Query | undefined,
    transport: Transport,
  ): Buffer {
    const rcode = rcodeValue[reply.rcode];
    const rd = packet.flags! & dnsPacket.RECURSION_DESIRED;
    const opcode = bytes.readUInt16BE(2) & 0x7800;
    let flags = opcode | rd | (rcode & 0xf) | (reply.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0);
    const opt = (packet.additionals ?? []).some((a) => a.type === 'OPT')
      ? responseOpt(this.options.config.maxUdpPayload, rcode, query?.subnet, reply.scope)
      : undefined;
    const response = {
      id: packet.id,
      type: 'response' as const,
      flags,
      questions: (packet.questions ?? []).slice(0, 1),
      answers: reply.answers,
      authorities: reply.authorities,
      additionals: opt ? [...reply.additionals, opt] : reply.additionals,
    };
    const limit =
      query?.limit ?? (opt || transport === 'tcp' ? this.options.config.maxUdpPayload : classicUdpBytes);
    let out = dnsPacket.encode(response);
    if (out.length > limit) {
      flags |= dnsPacket.TRUNCATED_RESPONSE;
      this.options.metrics.truncated(transport);
      out = dnsPacket.encode({
        ...response,
        flags,
        answers: [],
        authorities: [],
        additionals: opt ? [opt] : [],
      });
    } else if (reply.region) this.options.metrics.steered(reply.region.client, reply.region.answered);
    return out;
  }
}

/** The response's OPT record (RFC 6891 §6.1.2): our payload size, the rcode's upper bits, ECS echoed. */
function responseOpt(
  payload: number,
  rcode: number,
  subnet: ClientSubnet | undefined,
  scope: number,
): Answer {
  return {
    name: '.',
    type: 'OPT',
    udpPayloadSize: payload,
    extendedRcode: rcode >> 4,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: subnet ? [subnetOption(subnet, scope)] : [],
  } as OptAnswer;
}

function ok(answers: Answer[]): Reply {
  return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals: [], scope: 0 };
}

function failure(rcode: Rcode): Reply {
  return { rcode, authoritative: false, answers: [], authorities: [], additionals: [], scope: 0 };
}

function lower(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function parentOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot === -1 ? undefined : name.slice(dot + 1);
}
