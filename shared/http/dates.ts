// HTTP-date (RFC 9110 §5.6.7): the one strict parser for every date Strata reads (Date,
// Expires, Last-Modified, If-Modified-Since). Anything else is invalid, never guessed at.

const dayNames = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const longDayNames = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const monthNames = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT   ; Sun, 06 Nov 1994 08:49:37 GMT
const imfFixdate = /^([A-Za-z]{3}), (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
// rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT ; Sunday, 06-Nov-94 08:49:37 GMT
const rfc850Date = /^([A-Za-z]{6,9}), (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
// asctime-date = day-name SP date3 SP time-of-day SP year      ; Sun Nov  6 08:49:37 1994
const asctimeDate = /^([A-Za-z]{3}) ([A-Za-z]{3}) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

/**
 * Milliseconds since the epoch for an HTTP-date, or undefined when `value` is absent or not one
 * of the three forms of RFC 9110 §5.6.7 (IMF-fixdate, rfc850-date, asctime-date). Names are
 * matched without regard to case, as "recipients ... are encouraged to be robust in parsing
 * timestamps"; nothing else is: "UTC" for "GMT", a one-digit hour, dashes in an IMF-fixdate,
 * extra spaces or a missing comma make the value invalid. `nowMs` places two-digit years.
 */
export function parseHttpDate(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  // RFC 9110 §5.5: leading and trailing whitespace is not part of a field value.
  const text = value.trim();
  let m = imfFixdate.exec(text);
  if (m) {
    if (!dayNames.includes(m[1].toLowerCase())) return undefined;
    return utc(Number(m[4]), m[3], m[2], m[5], m[6], m[7]);
  }
  m = rfc850Date.exec(text);
  if (m) {
    if (!longDayNames.includes(m[1].toLowerCase())) return undefined;
    return utc(fullYear(Number(m[4]), nowMs), m[3], m[2], m[5], m[6], m[7]);
  }
  m = asctimeDate.exec(text);
  if (m) {
    if (!dayNames.includes(m[1].toLowerCase())) return undefined;
    return utc(Number(m[7]), m[2], m[3].trim(), m[4], m[5], m[6]);
  }
  return undefined;
}

/**
 * RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a
 * two-digit year, MUST interpret a timestamp that appears to be more than 50 years in the future
 * as representing the most recent year in the past that had the same last two digits."
 */
function fullYear(twoDigits: number, nowMs: number): number {
  const thisYear = new Date(nowMs).getUTCFullYear();
  const year = thisYear - (thisYear % 100) + twoDigits;
  return year > thisYear + 50 ? year - 100 : year;
}

/** The instant, or undefined when a field is out of range (a 31 Feb, a 25th hour). */
function utc(
  year: number,
  monthName: string,
  dayText: string,
  hourText: string,
  minuteText: string,
  secondText: string,
): number | undefined {
  const month = monthNames.indexOf(monthName.toLowerCase());
  const day = Number(dayText);
  const hour = Number(hourText);
  const minute = Number(minuteText);
  // time-of-day allows second 60, for a leap second; it is read as the next second.
  const second = Number(secondText);
  if (month === -1 || hour > 23 || minute > 59 || second > 60 || day < 1) return undefined;
  // setUTCFullYear, unlike Date.UTC, leaves years 0-99 as they are.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // A 31 Feb rolls over into March: the day must exist in its month.
  if (date.getUTCDate() !== day) return undefined;
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
}
