/** The images of a Dockerfile: FROM and COPY --from, stages, scratch, ARGs, continuations, heredocs. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dockerfileImages, expandDockerfileVars } from '../../src/cosign/dockerfile.js';
import { throwsCode } from '../helpers/assert.js';

const refs = (src: string, env: Record<string, string> = {}) => dockerfileImages(src, env).images.map((i) => i.ref);

describe('dockerfileImages', () => {
  test("cosign's cases: plain, tag, AS, digest, --platform, multi-stage, COPY --from an image", () => {
    assert.deepEqual(refs('FROM gcr.io/test/image'), ['gcr.io/test/image']);
    assert.deepEqual(refs('FROM gcr.io/test/image:1.16.5 as build'), ['gcr.io/test/image:1.16.5']);
    const d = 'gcr.io/test/image@sha256:' + 'd1'.repeat(32);
    assert.deepEqual(refs(`FROM ${d}`), [d]);
    const fancy = dockerfileImages('FROM --platform=linux/arm64 gcr.io/fancy/test/image AS fancy');
    assert.deepEqual(fancy.images, [{ ref: 'gcr.io/fancy/test/image', line: 1, instruction: 'FROM', stage: 'fancy', platform: 'linux/arm64' }]);
    assert.deepEqual(refs('FROM build_image_1\n\tRUN script1\n FROM build_image_2\nRUN x\nFROM runtime_image\nCMD bin'), ['build_image_1', 'build_image_2', 'runtime_image']);
    assert.deepEqual(refs(`FROM ${d}\nCOPY --from=gcr.io/hello/world /a /b\nCOPY . .`), [d, 'gcr.io/hello/world']);
  });

  test('stage names (any case) and indexes are not images; scratch is skipped; the base follows stage chains', () => {
    const src = [
      'FROM golang:1.23 AS Build',
      'RUN go build',
      'FROM build AS test',
      'FROM scratch AS empty',
      'COPY --from=0 /x /x',
      'COPY --from=BUILD /out /out',
      'COPY --from=docker.io/library/busybox:1.36 /bin/sh /sh',
      'FROM test',
    ].join('\n');
    const found = dockerfileImages(src);
    assert.deepEqual(found.images.map((i) => `${i.line}:${i.instruction}:${i.ref}`), ['1:FROM:golang:1.23', '7:COPY --from:docker.io/library/busybox:1.36']);
    assert.equal(found.base?.ref, 'golang:1.23', 'FROM test → FROM build → golang');
    assert.deepEqual(found.skipped.map((s) => s.line), [3, 4, 5, 6, 8]);
    assert.equal(dockerfileImages('FROM alpine AS a\nFROM scratch\nCOPY --from=a / /').base, undefined, 'a final scratch stage has no base image');
  });

  test('ARGs before the first FROM give defaults; the environment overrides them; ARGs inside a stage do not reach FROM', () => {
    const src = [
      '# syntax=docker/dockerfile:1',
      'ARG REGISTRY=reg.example:5000',
      'ARG TAG="1.0"',
      'ARG VARIANT',
      'ARG FULL=${REGISTRY}/full',
      'FROM ${REGISTRY}/base:$TAG AS base',
      'ARG STAGE_ONLY=nope',
      'FROM $FULL:${VARIANT:-slim}',
      'FROM ${REGISTRY}/x${VARIANT:+-$VARIANT}',
    ].join('\n');
    assert.deepEqual(refs(src), ['reg.example:5000/base:1.0', 'reg.example:5000/full:slim', 'reg.example:5000/x']);
    assert.deepEqual(refs(src, { TAG: '2.0', VARIANT: 'alpine' }), ['reg.example:5000/base:2.0', 'reg.example:5000/full:alpine', 'reg.example:5000/x-alpine']);
    assert.deepEqual(refs('FROM gcr.io/${TEST_IMAGE_REPO_PATH}/one', { TEST_IMAGE_REPO_PATH: 'env/repo' }), ['gcr.io/env/repo/one'], "cosign's rule: undeclared variables come from the environment");
    throwsCode(() => dockerfileImages('ARG BASE\nFROM $BASE'), 'USAGE', /\$BASE has no value/);
    throwsCode(() => dockerfileImages('FROM alpine\nARG LATER=x\nFROM $LATER'), 'USAGE', /line 3: \$LATER has no value/);
    // COPY --from sees its stage's ARGs: a global one only when the stage declares it again.
    const copy = 'ARG REG=reg.example\nFROM alpine\nARG REG\nARG TOOL=tool:1\nCOPY --from=$REG/$TOOL /t /t\nFROM busybox\nCOPY --from=$REG/x /x /x';
    throwsCode(() => dockerfileImages(copy), 'USAGE', /line 7: \$REG has no value/);
    assert.deepEqual(refs(copy.split('\n').slice(0, 5).join('\n')), ['alpine', 'reg.example/tool:1']);
    assert.deepEqual(refs(copy, { REG: 'env.example' }), ['alpine', 'env.example/tool:1', 'busybox', 'env.example/x']);
  });

  test('continuation lines, comments inside them, the escape directive, and heredoc bodies', () => {
    const src = ['FROM \\', '  # a comment inside the continuation', '  --platform=linux/amd64 \\', '', '  alpine:3.20 \\', '  AS base', 'RUN <<EOF', 'FROM not-an-image', 'EOF', 'COPY <<-END /etc/x', '\tFROM also-not', '\tEND', 'FROM debian:12'].join('\n');
    const found = dockerfileImages(src);
    assert.deepEqual(found.images.map((i) => [i.ref, i.line, i.platform, i.stage]), [
      ['alpine:3.20', 1, 'linux/amd64', 'base'],
      ['debian:12', 13, undefined, '1'],
    ]);
    assert.deepEqual(refs('# escape=`\nFROM `\n  windows/servercore:ltsc2022\nRUN dir c:\\'), ['windows/servercore:ltsc2022']);
    assert.deepEqual(refs('\uFEFFfrom alpine\r\nfrom busybox\r\n'), ['alpine', 'busybox'], 'BOM, CRLF and lowercase instructions');
  });

  test('bad Dockerfiles get one clear line', () => {
    throwsCode(() => dockerfileImages('RUN echo hi'), 'MALFORMED', /no FROM/);
    throwsCode(() => dockerfileImages('FROM a b'), 'MALFORMED', /FROM takes an image/);
    throwsCode(() => dockerfileImages('FROM ${A:?x}'), 'MALFORMED', /unsupported substitution/);
    throwsCode(() => dockerfileImages('FROM ${A'), 'MALFORMED', /unterminated/);
    throwsCode(() => dockerfileImages('ARG E=\nFROM $E'), 'MALFORMED', /empty after expanding/);
    throwsCode(() => dockerfileImages('# escape=x\nFROM a'), 'MALFORMED', /escape directive/);
  });

  test('expandDockerfileVars: escaped dollars, unset versus empty', () => {
    const vars: Record<string, string> = { E: '', S: 'set' };
    const look = (n: string) => vars[n];
    assert.equal(expandDockerfileVars('\\$S-$S-${E-d}-${E:-d}-${U-d}-${S+a}-${E:+a}-${E+a}', look, 't'), '$S-set--d-d-a--a');
  });
});
