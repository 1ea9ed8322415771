# An independent reference of the documented key algorithm (v1), in Python
# (`pip install xxhash`), which computed the values pinned in
# src/key/tests.rs. Run it to check them: python3 key_reference.py
import struct, json, hashlib, xxhash
def u64(n): return struct.pack('<Q', n)
def enc(v, root=False):
    if v is None: return b'\x00'
    if v is False: return b'\x01'
    if v is True: return b'\x02'
    if isinstance(v, int): return (b'\x03'+u64(v)) if v>=0 else (b'\x04'+struct.pack('<q',v))
    if isinstance(v, float): return b'\x05'+struct.pack('<d', v)
    if isinstance(v, str): b=v.encode(); return b'\x06'+u64(len(b))+b
    if isinstance(v, list): return b'\x07'+b''.join(enc(x) for x in v)+b'\x08'
    if isinstance(v, dict):
        s=0; n=0
        for k,x in v.items():
            if root and k=='_meta': continue
            s=(s+xxhash.xxh3_128_intdigest(enc(k)+enc(x)))%(1<<128); n+=1
        return b'\x09'+u64(n)+s.to_bytes(16,'little')
def digest(params): return xxhash.xxh3_128_intdigest(enc(params, True))
def key(method, params, version, principal):
    b=b'mcp-stack/key/v1\0'+enc(method)+digest(params).to_bytes(16,'little')
    b+= b'\x00' if version is None else b'\x01'+enc(version)
    b+= b'\x00' if principal is None else b'\x01'+principal
    return '%032x' % xxhash.xxh3_128_intdigest(b)
p={"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":7}}
alice=hashlib.sha256(b'mcp-stack/principal/v1\0identity\0alice').digest()[:16]
print(key("tools/call",p,"2025-11-25",None))
print(key("tools/call",p,"2025-11-25",alice))
# A member far longer than the encoder's stack buffer.
long={"name":"echo","arguments":{"text":"x"*1000,"list":list(range(300))}}
print(key("tools/call",long,None,None))
