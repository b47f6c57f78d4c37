// One tag validator for every tool that takes tags: AWS's character set and limits, reserved keys however they are
// disguised (a trailing space, another script's look-alike letters, full-width forms, invisible marks), no control characters.
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { comparableKey, tagKeyProblem, tagValueProblem } from '../src/guard/tag-rules.js';
import { admin, call, connect, type Harness } from './helpers/harness.js';
import { serviceWorld, SITE } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const DISGUISED = [
  ['a trailing space', 'ProjectId '],
  ['lower case', 'projectid'],
  ['a Greek capital Rho for P', '\u03a1rojectId'],
  ['a Cyrillic о', 'Pr\u043ejectId'],
  ['full-width letters', '\uff30\uff52\uff4f\uff4a\uff45\uff43\uff54\uff29\uff44'],
  ['a zero-width space', 'Project\u200bId'],
  ['a right-to-left override', '\u202eProjectId'],
  ['a soft hyphen', 'Agent\u00adId'],
  ['the aws: prefix in capitals', 'AWS:cloudformation:stack-name'],
  ['a control character', 'Own\u0007er'],
] as const;

describe('tag keys and values', () => {
  it.each(DISGUISED)('a key with %s is refused', (_what, key) => {
    expect(tagKeyProblem(key)).not.toBeNull();
  });

  it('compares keys after NFKC, removing invisible marks, trimming and case folding', () => {
    expect(comparableKey('\uff30\uff52\uff4f\uff4a\uff45\uff43\uff54\uff29\uff44')).toBe('projectid');
    expect(comparableKey('Project\u200bId ')).toBe('projectid');
    expect(tagKeyProblem('\uff30\uff52\uff4f\uff4a\uff45\uff43\uff54\uff29\uff44')).toMatch(/is reserved/);
  });

  it('allows what AWS allows, refuses the rest', () => {
    for (const ok of ['Owner', 'cost-center', 'team:web/front', 'a.b_c=d+e@f', 'x'.repeat(128)]) expect(tagKeyProblem(ok), ok).toBeNull();
    expect(tagKeyProblem('x'.repeat(129))).toMatch(/1-128 characters, got 129/);
    for (const ok of ['web team', 'équipe-ĺ', '東京', '', 'v'.repeat(256)]) expect(tagValueProblem(ok), ok).toBeNull();
    expect(tagValueProblem('v'.repeat(257))).toMatch(/at most 256/);
    expect(tagValueProblem('red\u001b[31m')).toMatch(/control or invisible/);
    expect(tagValueProblem('a\u202eb')).toMatch(/control or invisible/);
    expect(tagValueProblem('semi;colon')).toMatch(/letters, digits, spaces/);
  });
});

describe('every tool that takes tags uses it', () => {
  async function setup() {
    const w = await serviceWorld();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    return { w, h, arn: await launchTagged(admin.ec2(), { ProjectId: w.project }) };
  }

  it.each(DISGUISED)(
    'a key with %s: tag_resource and deploy_static_site refuse it, naming the field; audited; nothing sent',
    async (_what, key) => {
      const { h, arn } = await setup();
      for (const [tool, args, field] of [
        ['tag_resource', { resource_arn: arn, set: { [key]: 'x' } }, 'set.'],
        ['deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging', tags: { [key]: 'x' } }, 'tags.'],
      ] as const) {
        const r = await call(h.client, tool, args);
        expect(r.isError, `${tool}: ${r.text}`).toBe(true);
        expect(r.text).toMatch(new RegExp(`invalid arguments for ${tool}: ${field.replace('.', '\\.')}`));
        expect(h.audit.tail({ limit: 1 })[0].kind).toBe('denied');
      }
      expect(h.sent).toEqual([]);
    },
  );

  it('control characters in a value, and more tags than AWS allows with the server’s own, are refused', async () => {
    const { h, arn } = await setup();
    const bad = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'ops\u001b[2J' } });
    expect(bad.text).toMatch(/set\.Owner: tag values may not hold control or invisible characters/);
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect((await call(h.client, 'tag_resource', { resource_arn: arn, set: many(51) })).text).toMatch(/at most 50 tags on a resource/);
    const deploy = (n: number) =>
      call(h.client, 'deploy_static_site', { site: 'shop', source_dir: SITE, environment: 'staging', tags: many(n), dry_run: true });
    expect((await deploy(46)).text).toMatch(/tags: at most 50 tags on a resource, 5 of them aws-warden's own: 46 given/);
    expect((await deploy(45)).isError).toBeFalsy();
    expect(h.writes()).toEqual([]);
  });
});
