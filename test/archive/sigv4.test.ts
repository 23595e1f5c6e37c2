import { expect } from 'chai';
import { EMPTY_SHA256, signV4 } from '../../lib/archive/sigv4.js';

// The worked examples of AWS's "Signature Calculations for the Authorization
// Header" (S3 API reference): same inputs, same signatures.
const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const now = new Date('2013-05-24T00:00:00Z');
const host = 'examplebucket.s3.amazonaws.com';

function signatureOf(auth: string | undefined): string {
  return /Signature=([0-9a-f]{64})$/.exec(auth ?? '')?.[1] ?? '';
}

describe('SigV4 signing', () => {
  it('signs a GET object with a Range header as AWS documents it', () => {
    const h = signV4({ method: 'GET', path: '/test.txt', query: {}, headers: { host, range: 'bytes=0-9' }, payloadSha256: EMPTY_SHA256, region: 'us-east-1', service: 's3', credentials, now });
    expect(h['x-amz-date']).to.equal('20130524T000000Z');
    expect(h['authorization']).to.contain('SignedHeaders=host;range;x-amz-content-sha256;x-amz-date');
    expect(signatureOf(h['authorization'])).to.equal('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('signs a PUT object with a body hash and an encoded key as AWS documents it', () => {
    const h = signV4({
      method: 'PUT',
      path: '/test%24file.text',
      query: {},
      headers: { host, date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
      payloadSha256: '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      region: 'us-east-1', service: 's3', credentials, now,
    });
    expect(signatureOf(h['authorization'])).to.equal('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it('signs a listing with its query sorted as AWS documents it', () => {
    const h = signV4({ method: 'GET', path: '/', query: { prefix: 'J', 'max-keys': '2' }, headers: { host }, payloadSha256: EMPTY_SHA256, region: 'us-east-1', service: 's3', credentials, now });
    expect(signatureOf(h['authorization'])).to.equal('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('signs the session token when there is one', () => {
    const h = signV4({ method: 'GET', path: '/', query: {}, headers: { host }, payloadSha256: EMPTY_SHA256, region: 'us-east-1', service: 's3', credentials: { ...credentials, sessionToken: 'tok' }, now });
    expect(h['x-amz-security-token']).to.equal('tok');
    expect(h['authorization']).to.contain('x-amz-security-token');
  });
});
