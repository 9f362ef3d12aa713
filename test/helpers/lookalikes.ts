/**
 * Look-alike logins: spellings that a human (or a database collation) may take for an existing user's email or
 * username, but that the gateway's login rule does NOT match.
 *
 * The rule: a login matches a row when the row's email or username equals it after normalisation — trim surrounding
 * whitespace (String.prototype.trim), then String.prototype.toLowerCase(). No compatibility folding (NFKC), no
 * canonical composition (NFC), no accent stripping, no removal of ignorable characters. Whatever candidates a store
 * returns (through any collation), only exact matches under that rule count.
 *
 * Every entry below was checked against that rule by hand and is re-checked at run time (assertCorpus): a
 * "must not match" spelling never normalises to its target's email or username, a "rule matches" spelling always does.
 */

/** The users every look-alike store is seeded with (the same rows on every store). */
export interface LookalikeUser {
  id: number;
  email: string;
  username: string;
  password: string;
}

export const LOOKALIKE_USERS = {
  alice: { id: 1, email: 'alice@example.com', username: 'alice', password: 'correct horse battery staple' },
  bob: { id: 2, email: 'bob@example.com', username: 'bob', password: 'bob-ordinary-pass' },
  strasse: { id: 3, email: 'strasse@example.com', username: 'strasse', password: 'strasse-pass' },
  fiona: { id: 4, email: 'fiona@example.com', username: 'fiona', password: 'fiona-pass' },
  kate: { id: 5, email: 'kate@example.com', username: 'kate', password: 'kate-pass' },
  /** Two rows whose emails differ only by case: ambiguous under the rule. */
  dupOne: { id: 6, email: 'Dup@Example.com', username: 'dup-one', password: 'dup-one-pass' },
  dupTwo: { id: 7, email: 'dup@example.com', username: 'dup-two', password: 'dup-two-pass' },
  /** Two rows whose emails differ by an accent: NOT ambiguous under the rule (é is stored precomposed, NFC). */
  rene: { id: 8, email: 'rene@example.com', username: 'rene-one', password: 'rene-one-pass' },
  reneAccent: { id: 9, email: 'ren\u00e9@example.com', username: 'rene-two', password: 'rene-two-pass' },
} as const satisfies Record<string, LookalikeUser>;

export type UserKey = keyof typeof LOOKALIKE_USERS;

export interface Lookalike {
  login: string;
  /** Whose look-alike it is (that user's real password is sent with it). */
  target: UserKey;
  kind: string;
}

const A = (login: string, kind: string): Lookalike => ({ login, target: 'alice', kind });

/** Spellings that must select NOBODY: verify with the target's real password is 401, lookup is 404. */
export const MUST_NOT_MATCH: Lookalike[] = [
  // Compatibility forms (NFKC would fold these to alice)
  A('\uff41\uff4c\uff49\uff43\uff45', 'fullwidth letters'),
  A('\uff21\uff2c\uff29\uff23\uff25', 'fullwidth capitals'),
  A('al\uff49ce', 'one fullwidth letter'),
  A('\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}', 'mathematical bold'),
  A('\u{1d5ba}\u{1d5c5}\u{1d5c2}\u{1d5bc}\u{1d5be}', 'mathematical sans-serif'),
  A('\u24d0\u24db\u24d8\u24d2\u24d4', 'circled letters'),
  A('al\u2170ce', 'small roman numeral one for i'),
  A('a\u217cice', 'small roman numeral fifty for l'),
  A('a\u2113ice', 'script small l'),
  A('\u1d00\u029f\u026a\u1d04\u1d07', 'small capitals'),
  // Accented letters, precomposed (NFC)
  A('\u00e0lice', 'a with grave'),
  A('\u00e1lice', 'a with acute'),
  A('\u00e5lice', 'a with ring'),
  A('\u00e4lice', 'a with diaeresis'),
  A('al\u00eece', 'i with circumflex'),
  A('al\u00efce', 'i with diaeresis'),
  A('ali\u00e7e', 'c with cedilla'),
  A('alic\u00e9', 'e with acute (NFC)'),
  A('\u00c0LICE', 'capital A with grave'),
  // Combining marks (NFD forms and stray marks)
  A('a\u0301lice', 'combining acute after a (NFD of \u00e1lice)'),
  A('alice\u0301', 'combining acute at the end (NFD of alic\u00e9)'),
  A('alic\u0327e', 'combining cedilla (NFD of ali\u00e7e)'),
  A('ali\u034fce', 'combining grapheme joiner'),
  // Dotted and dotless i
  A('AL\u0130CE', 'dotted capital I (lower-cases to i + U+0307)'),
  A('al\u0130ce', 'dotted capital I inside'),
  A('al\u0131ce', 'dotless i'),
  A('AL\u0131CE', 'dotless i among capitals'),
  // Homoglyphs from other scripts
  A('\u0430lice', 'Cyrillic a'),
  A('alic\u0435', 'Cyrillic ie'),
  A('\u0430lic\u0435', 'Cyrillic a and ie'),
  A('al\u0456ce', 'Cyrillic (Ukrainian) i'),
  A('ali\u0441e', 'Cyrillic es for c'),
  A('\u0391LICE', 'Greek capital alpha'),
  A('al\u03b9ce', 'Greek iota'),
  A('ali\u03f2e', 'Greek lunate sigma for c'),
  A('\u0251lice', 'Latin alpha'),
  A('aIice', 'ASCII capital I for l'),
  // Default-ignorable and format characters inside or at the ends (trim() does not remove these)
  A('al\u200dice', 'zero-width joiner inside'),
  A('al\u200bice', 'zero-width space inside'),
  A('al\u200cice', 'zero-width non-joiner inside'),
  A('al\u00adice', 'soft hyphen inside'),
  A('al\u2060ice', 'word joiner inside'),
  A('ali\ufeffce', 'zero-width no-break space inside'),
  A('\u200balice', 'leading zero-width space'),
  A('alice\u200b', 'trailing zero-width space'),
  A('alice\u200d', 'trailing zero-width joiner'),
  A('alice\u00ad', 'trailing soft hyphen'),
  A('\u2060alice', 'leading word joiner'),
  A('alice\u180e', 'trailing Mongolian vowel separator (not whitespace since Unicode 6.3)'),
  // Email look-alikes
  A('alice@ex\u0430mple.com', 'email: Cyrillic a in the domain'),
  A('alice\uff20example.com', 'email: fullwidth at sign'),
  A('alice\ufe6bexample.com', 'email: small commercial at'),
  A('alice@example\uff0ecom', 'email: fullwidth full stop'),
  A('\uff41\uff4c\uff49\uff43\uff45@example.com', 'email: fullwidth local part'),
  A('alice@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.\uff43\uff4f\uff4d', 'email: fullwidth domain'),
  A('alic\u00e9@example.com', 'email: e with acute'),
  A('alice\u0301@example.com', 'email: combining acute'),
  A('alice@\u00e9xample.com', 'email: accented domain'),
  A('AL\u0130CE@EXAMPLE.COM', 'email: dotted capital I'),
  A('al\u0131ce@example.com', 'email: dotless i'),
  A('al\u200dice@example.com', 'email: zero-width joiner'),
  A('alice@example.com\u200b', 'email: trailing zero-width space'),
  A('alice@exam\u00adple.com', 'email: soft hyphen'),
  A('\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}@example.com', 'email: mathematical bold local part'),
  // German sharp s (UCA collations equate \u00df with ss)
  { login: 'stra\u00dfe', target: 'strasse', kind: 'sharp s for ss' },
  { login: 'STRA\u1e9eE', target: 'strasse', kind: 'capital sharp s (lower-cases to \u00df)' },
  { login: 'stra\u00dfe@example.com', target: 'strasse', kind: 'email: sharp s for ss' },
  { login: '\u017ftrasse', target: 'strasse', kind: 'long s' },
  // Ligatures
  { login: '\ufb01ona', target: 'fiona', kind: 'fi ligature' },
  { login: '\ufb01ona@example.com', target: 'fiona', kind: 'email: fi ligature' },
];

/**
 * Spellings that DO match under the rule, on every store: surrounding whitespace that trim() removes (NBSP,
 * ideographic space, BOM, ...), and the Kelvin sign, which String.prototype.toLowerCase() maps to ASCII k.
 */
export const RULE_MATCHES: Lookalike[] = [
  A('\u00a0alice', 'leading no-break space'),
  A('alice\u3000', 'trailing ideographic space'),
  A('\u3000Alice@Example.com\u3000', 'email inside ideographic spaces'),
  A('\ufeffalice', 'leading BOM (trim() removes U+FEFF)'),
  A('\u2003alice\u202f', 'em space and narrow no-break space'),
  A('\u205fALICE\u1680', 'medium mathematical space and ogham space mark'),
  A('\u2028alice\u2029', 'line and paragraph separators'),
  A('\talice\r\n', 'tab and CRLF'),
  { login: '\u212aate', target: 'kate', kind: 'Kelvin sign (toLowerCase() gives ASCII k)' },
  { login: '\u212aATE@EXAMPLE.COM', target: 'kate', kind: 'email: Kelvin sign' },
];

/** The rule itself, as the tests read it. */
export function normaliseLogin(s: string): string {
  return s.trim().toLowerCase();
}

/** The login as JSON with every character outside printable ASCII as a \u escape (invisible characters stay visible). */
export function show(login: string): string {
  return JSON.stringify(login).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Guards the corpus against typos: every entry means what its set says, under the rule. */
export function assertCorpus(): void {
  const names = (u: LookalikeUser) => [normaliseLogin(u.email), normaliseLogin(u.username)];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const l of MUST_NOT_MATCH) {
    const n = normaliseLogin(l.login);
    for (const u of Object.values(LOOKALIKE_USERS)) if (names(u).includes(n)) problems.push(`${show(l.login)} matches ${u.username} under the rule`);
    if (seen.has(l.login)) problems.push(`${show(l.login)} listed twice`);
    seen.add(l.login);
  }
  for (const l of RULE_MATCHES) {
    const target = LOOKALIKE_USERS[l.target];
    if (!names(target).includes(normaliseLogin(l.login))) problems.push(`${show(l.login)} does not match ${target.username} under the rule`);
    if (l.login === l.login.trim() && l.login.toLowerCase() === l.login) problems.push(`${show(l.login)} is not a look-alike at all`);
  }
  if (problems.length) throw new Error(`look-alike corpus is wrong:\n${problems.join('\n')}`);
}
