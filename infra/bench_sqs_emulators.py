#!/usr/bin/env python3
"""Measures one local SQS emulator (speed with a deep queue, and how faithful it is), or prints
the table of several runs. Driven by infra/bench-sqs-emulators; boto3 speaks SQS's JSON protocol
(awsJson1_0), as the project's aws-sdk-sqs does.

  bench_sqs_emulators.py run --name NAME --endpoint URL --out results.jsonl [--pid PID]
                             [--version V] [--startup-seconds S]
  bench_sqs_emulators.py table results.jsonl

Every phase has a time budget (FILL_BUDGET_S, PHASE_BUDGET_S in the environment), so a slow
emulator ends its phase early and says how far it got instead of running for an hour.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import threading
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

DEPTH = int(os.environ.get("DEPTH", "10000"))
FILL_BUDGET_S = float(os.environ.get("FILL_BUDGET_S", "120"))
PHASE_BUDGET_S = float(os.environ.get("PHASE_BUDGET_S", "45"))
MORE_CALLS = 100
RECV_CALLS = 200
BODY = json.dumps({"kind": "notification", "org": "o" * 24, "user": "u" * 24, "payload": "x" * 120})


# --------------------------------------------------------------------------- helpers


def client(endpoint):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60, connect_timeout=5,
                      max_pool_connections=4),
    )


def pct(samples, p):
    if not samples:
        return None
    s = sorted(samples)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(x):
    return None if x is None else round(x * 1000, 2)


def err_text(e):
    if isinstance(e, ClientError):
        er = e.response.get("Error", {})
        return f"{er.get('Code')}: {er.get('Message', '')}"[:160]
    return f"{type(e).__name__}: {e}"[:160]


def tree_pids(root):
    """root and its descendants, from /proc."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_s(root):
    if not root:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def tree_rss_mb(root):
    if not root:
        return None
    total = 0
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_of_attributes(attrs) -> str:
    """The MD5OfMessageAttributes algorithm of SQS (name, type, transport byte, value; sorted)."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        dt = a["DataType"]
        buf += struct.pack(">I", len(name.encode())) + name.encode()
        buf += struct.pack(">I", len(dt.encode())) + dt.encode()
        if "BinaryValue" in a:
            v = a["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(v)) + v
        else:
            v = a["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(v)) + v
    return md5_hex(buf)


def entries(n, prefix="m"):
    return [{"Id": f"{prefix}{i}", "MessageBody": BODY} for i in range(n)]


def new_queue(sqs, base, **attrs):
    name = f"{base}-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def recv(sqs, url, n=10, vt=None, wait=0):
    kw = dict(QueueUrl=url, MaxNumberOfMessages=n, WaitTimeSeconds=wait,
              MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
    if vt is not None:
        kw["VisibilityTimeout"] = vt
    return sqs.receive_message(**kw).get("Messages", [])


# --------------------------------------------------------------------------- faithfulness checks
# Each returns (status, detail): PASS; WARN (works, differs from AWS in a detail); FAIL; INFO
# (no verdict: what AWS does here is not pinned down).


def check_redrive_accepted(sqs):
    dlq, dlq_arn = new_queue(sqs, "chk-dlq")
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}
    url, _ = new_queue(sqs, "chk-src", RedrivePolicy=json.dumps(policy))
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    back = json.loads(got.get("RedrivePolicy", "{}"))
    ok = back.get("deadLetterTargetArn") == dlq_arn and int(back.get("maxReceiveCount", 0)) == 3
    return ("PASS" if ok else "FAIL"), f"RedrivePolicy read back: {got.get('RedrivePolicy')}"


def poll_back(sqs, url, timeout, vt=30):
    """Polls (WaitTimeSeconds=0, every 50 ms) until a message shows up; (messages, seconds)."""
    t0 = time.perf_counter()
    while True:
        got = recv(sqs, url, 10, vt=vt)
        if got or time.perf_counter() - t0 > timeout:
            return got, time.perf_counter() - t0
        time.sleep(0.05)


def check_visibility(sqs):
    url, _ = new_queue(sqs, "chk-vis")
    sqs.send_message(QueueUrl=url, MessageBody="A")
    a = recv(sqs, url, 1, vt=30)
    sqs.send_message(QueueUrl=url, MessageBody="B")
    b = recv(sqs, url, 1, vt=2)
    t_b = time.perf_counter()
    if len(a) != 1 or len(b) != 1 or a[0]["Body"] != "A" or b[0]["Body"] != "B":
        return "FAIL", f"first receives got {[m['Body'] for m in a]} / {[m['Body'] for m in b]}"
    early = recv(sqs, url, 10)
    time.sleep(1.0)
    early += recv(sqs, url, 10)
    if early:
        return "FAIL", f"re-received before its 2 s timeout: {[m['Body'] for m in early]}"
    late, _ = poll_back(sqs, url, 6)
    back_s = time.perf_counter() - t_b
    bodies = sorted(m["Body"] for m in late)
    if bodies != ["B"]:
        return "FAIL", f"expected [B] back (B vt=2 s, A vt=30 s), got {bodies} after {back_s:.2f} s"
    status = "PASS" if 1.9 <= back_s <= 2.6 else "WARN"
    return status, f"vt=2 s message back after {back_s:.2f} s (hidden at 0 and 1 s); vt=30 s one stayed hidden"


def check_vt_precision(sqs):
    url, _ = new_queue(sqs, "chk-vtp")
    sqs.send_message(QueueUrl=url, MessageBody="x")
    delays = []
    for _ in range(3):
        got = recv(sqs, url, 1, vt=1) if not delays else got
        t = time.perf_counter()
        got, _ = poll_back(sqs, url, 5, vt=1)
        if not got:
            return "FAIL", f"VisibilityTimeout=1 message not back within 5 s (after {delays})"
        delays.append(round(time.perf_counter() - t, 2))
    status = "FAIL" if min(delays) < 0.9 else "WARN" if max(delays) > 1.6 else "PASS"
    return status, f"VisibilityTimeout=1 message back after {delays} s"


def check_receive_count_and_sysattrs(sqs):
    url, _ = new_queue(sqs, "chk-attrs")
    t0 = time.time()
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    m1 = recv(sqs, url, 1, vt=1)
    m2, _ = poll_back(sqs, url, 4)
    if not m1 or not m2:
        return ("FAIL", "message not received twice"), ("FAIL", "no message")
    a1, a2 = m1[0].get("Attributes", {}), m2[0].get("Attributes", {})
    counts = (a1.get("ApproximateReceiveCount"), a2.get("ApproximateReceiveCount"))
    rc = ("PASS" if counts == ("1", "2") else "FAIL", f"ApproximateReceiveCount 1st/2nd: {counts}")
    problems = []
    st = a1.get("SentTimestamp")
    if st is None or not st.isdigit() or abs(int(st) / 1000 - t0) > 5:
        problems.append(f"SentTimestamp={st!r} (client time {int(t0 * 1000)})")
    fr = a1.get("ApproximateFirstReceiveTimestamp")
    if fr is None or not fr.isdigit() or int(fr) < int(st or 0):
        problems.append(f"ApproximateFirstReceiveTimestamp={fr!r}")
    if a2.get("ApproximateFirstReceiveTimestamp") != fr:
        problems.append("ApproximateFirstReceiveTimestamp changed on the 2nd receive")
    if not a1.get("SenderId"):
        problems.append("no SenderId")
    # The legacy parameter (AttributeNames, deprecated for MessageSystemAttributeNames) too.
    sqs.send_message(QueueUrl=url, MessageBody="legacy")
    legacy = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], MaxNumberOfMessages=1,
                                 WaitTimeSeconds=1).get("Messages", [])
    legacy_attrs = legacy[0].get("Attributes", {}) if legacy else {}
    if "SentTimestamp" not in legacy_attrs:
        problems.append("legacy AttributeNames=[All] gave no SentTimestamp either")
    elif problems:
        problems.append("(legacy AttributeNames=[All] does return them: "
                        f"{sorted(legacy_attrs)})")
    if counts != ("1", "2") and legacy_attrs.get("ApproximateReceiveCount") == "1":
        rc = ("FAIL", rc[1] + " with MessageSystemAttributeNames=[All] (what local-cloud sends); "
                              "legacy AttributeNames=[All] gives it")
    sa = ("FAIL" if problems else "PASS",
          "; ".join(problems) or f"SentTimestamp, ApproximateFirstReceiveTimestamp, SenderId={a1.get('SenderId')}")
    return rc, sa


def check_redrive(sqs):
    dlq, dlq_arn = new_queue(sqs, "chk-rdlq")
    url, _ = new_queue(sqs, "chk-rsrc",
                       RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    mid = sqs.send_message(QueueUrl=url, MessageBody="poison")["MessageId"]
    seen = [len(recv(sqs, url, 1, vt=1))]
    for _ in range(2):  # each time the 1 s visibility timeout runs out, receive again
        got, _ = poll_back(sqs, url, 4, vt=1)
        seen.append(len(got))
        if not got:
            break
    dead, _ = poll_back(sqs, dlq, 4)
    if seen == [1, 1, 0] and dead and dead[0]["MessageId"] == mid and dead[0]["Body"] == "poison":
        rc = dead[0].get("Attributes", {}).get("ApproximateReceiveCount")
        return "PASS", f"received 2x, then in the DLQ (same MessageId; DLQ receive count {rc})"
    return "FAIL", (f"receives returned {seen} (want [1, 1, 0]); DLQ got "
                    f"{[(m['MessageId'] == mid, m['Body']) for m in dead]} (maxReceiveCount=2)")


def check_message_attributes(sqs):
    url, _ = new_queue(sqs, "chk-mattr")
    attrs = {
        "kind": {"DataType": "String", "StringValue": "h\u00e9llo \u2713"},
        "count": {"DataType": "Number", "StringValue": "12.50"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
        "custom": {"DataType": "String.json", "StringValue": '{"a":1}'},
    }
    body = "b\u00f6dy \u2603"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
    got = recv(sqs, url, 1)
    if not got:
        return ("FAIL", "not received"), ("FAIL", "not received")
    m = got[0]
    back = m.get("MessageAttributes", {})
    diffs = []
    for k, v in attrs.items():
        b = back.get(k)
        if b is None:
            diffs.append(f"{k} missing")
            continue
        want = {kk: vv for kk, vv in v.items()}
        have = {kk: b[kk] for kk in ("DataType", "StringValue", "BinaryValue") if kk in b}
        if want != have:
            diffs.append(f"{k}: {have}")
    if m["Body"] != body:
        diffs.append(f"body {m['Body']!r}")
    roundtrip = ("FAIL" if diffs else "PASS", "; ".join(diffs) or "String/Number/Binary/String.json + unicode body")
    want_attr_md5 = md5_of_attributes(attrs)
    want_body_md5 = md5_hex(body.encode())
    bad = []
    for where, got_body, got_attr in (("send", sent.get("MD5OfMessageBody"), sent.get("MD5OfMessageAttributes")),
                                      ("receive", m.get("MD5OfBody"), m.get("MD5OfMessageAttributes"))):
        if got_body != want_body_md5:
            bad.append(f"{where} MD5 body {got_body}")
        if got_attr != want_attr_md5:
            bad.append(f"{where} MD5 attrs {got_attr} != {want_attr_md5}")
    md5 = ("FAIL" if bad else "PASS", "; ".join(bad) or "MD5OfBody/MD5OfMessageAttributes match on send and receive")
    return roundtrip, md5


def _expect_error(fn, want):
    try:
        r = fn()
    except ClientError as e:
        er = e.response.get("Error", {})
        code, qcode = er.get("Code", ""), er.get("QueryErrorCode", "")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        ok = code.endswith(want) and status == 400
        return ("PASS" if ok else "FAIL"), f"HTTP {status} code={code} query-code={qcode or '-'}"
    return "FAIL", f"no error; Successful={len(r.get('Successful', []))} Failed={r.get('Failed', [])}"[:200]


def check_batch_errors(sqs):
    url, _ = new_queue(sqs, "chk-batch")
    dup = _expect_error(lambda: sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}]),
        "BatchEntryIdsNotDistinct")
    leaked = recv(sqs, url, 10)
    if leaked:
        dup = ("FAIL", dup[1] + f"; yet {len(leaked)} message(s) of the rejected batch were enqueued")
    too_many = _expect_error(lambda: sqs.send_message_batch(QueueUrl=url, Entries=entries(11)),
                             "TooManyEntriesInBatchRequest")
    # DeleteMessageBatch: one good receipt handle, one bogus -> per-entry Failed, not a request error.
    sqs.send_message(QueueUrl=url, MessageBody="to-delete")
    m = recv(sqs, url, 1)
    if not m:
        return dup, too_many, ("FAIL", "no message to delete")
    try:
        r = sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "good", "ReceiptHandle": m[0]["ReceiptHandle"]},
            {"Id": "bad", "ReceiptHandle": "not-a-receipt-handle"}])
        succ = [e["Id"] for e in r.get("Successful", [])]
        failed = [(e["Id"], e.get("Code"), e.get("SenderFault")) for e in r.get("Failed", [])]
        ok = succ == ["good"] and len(failed) == 1 and failed[0][0] == "bad"
        if ok:
            status = "PASS" if failed[0][2] is True else "WARN"
        else:
            # Saying Successful to a malformed handle is wrong (AWS: ReceiptHandleIsInvalid) but
            # harmless to code that only deletes handles it received.
            status = "WARN" if sorted(succ) == ["bad", "good"] else "FAIL"
        partial = (status, f"Successful={succ} Failed={failed} (Id, Code, SenderFault)")
    except ClientError as e:
        partial = ("FAIL", f"whole request failed: {err_text(e)}")
    # SendMessageBatch with one invalid entry: U+0000 is outside the characters SQS allows in a
    # body. Taking it is wrong; per-entry InvalidMessageContents is what LocalStack (built from
    # recorded AWS answers) does; a whole-request error is left without a verdict.
    try:
        r = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "ok", "MessageBody": "fine"}, {"Id": "nul", "MessageBody": "bad\u0000body"}])
        succ = [e["Id"] for e in r.get("Successful", [])]
        failed = [(e["Id"], e.get("Code")) for e in r.get("Failed", [])]
        status = "FAIL" if "nul" in succ else "PASS" if succ == ["ok"] and failed[0][0] == "nul" else "FAIL"
        send_partial = (status, f"per-entry: Successful={succ} Failed={failed}")
    except ClientError as e:
        send_partial = ("INFO", f"whole request rejected: {err_text(e)}")
    return dup, too_many, partial, send_partial


def check_change_visibility(sqs):
    url, _ = new_queue(sqs, "chk-cmv")
    sqs.send_message(QueueUrl=url, MessageBody="x")
    m = recv(sqs, url, 1, vt=30)
    if not m:
        return "FAIL", "not received"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = recv(sqs, url, 1, wait=1)
    return ("PASS" if again and again[0]["MessageId"] == m[0]["MessageId"] else "FAIL",
            "visible again right after ChangeMessageVisibility(0)" if again else "still hidden")


def check_long_poll(sqs):
    url, _ = new_queue(sqs, "chk-poll")
    t = time.perf_counter()
    got = recv(sqs, url, 10, wait=2)
    empty_s = time.perf_counter() - t
    empty_ok = not got and 1.7 <= empty_s <= 3.5
    res = {}

    def waiter():
        t0 = time.perf_counter()
        try:
            res["msgs"] = recv(client(sqs.meta.endpoint_url), url, 10, wait=5)
        except Exception as e:  # noqa: BLE001
            res["err"] = err_text(e)
        res["s"] = time.perf_counter() - t0

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake")
    th.join(15)
    wake_ok = bool(res.get("msgs")) and res["s"] < 2.0
    status = "PASS" if empty_ok and wake_ok else "FAIL"
    return status, (f"empty WaitTimeSeconds=2 returned after {empty_s:.2f} s; a message sent 0.5 s into a "
                    f"5 s wait returned it after {res.get('s', float('nan')):.2f} s"
                    + (f" ({res['err']})" if "err" in res else "")
                    + ("" if res.get("msgs") else " with no message"))


def run_checks(sqs):
    checks = {}

    def run(names, fn):
        try:
            out = fn(sqs)
        except Exception as e:  # noqa: BLE001
            out = tuple(("FAIL", f"error: {err_text(e)}") for _ in names)
        if len(names) == 1:
            out = (out,)
        for n, o in zip(names, out):
            checks[n] = o

    run(["redrive policy accepted"], check_redrive_accepted)
    run(["visibility timeout"], check_visibility)
    run(["visibility timeout precision (1 s)"], check_vt_precision)
    run(["ApproximateReceiveCount", "system attributes"], check_receive_count_and_sysattrs)
    run(["redrive to DLQ"], check_redrive)
    run(["message attributes", "MD5 digests"], check_message_attributes)
    run(["dup Id -> BatchEntryIdsNotDistinct", "11 entries -> TooManyEntries",
         "DeleteMessageBatch partial failure", "SMB entry with U+0000 body"], check_batch_errors)
    run(["ChangeMessageVisibility"], check_change_visibility)
    run(["long polling"], check_long_poll)
    return checks


# --------------------------------------------------------------------------- load phases


def bench(sqs, pid):
    res = {}
    dlq, dlq_arn = new_queue(sqs, "bench-dlq")
    url, _ = new_queue(sqs, "bench", VisibilityTimeout=30,
                       RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}))

    # Fill to DEPTH with SendMessageBatch of 10.
    lat = []
    sent = 0
    t0 = time.perf_counter()
    while sent < DEPTH and time.perf_counter() - t0 < FILL_BUDGET_S:
        t = time.perf_counter()
        r = sqs.send_message_batch(QueueUrl=url, Entries=entries(10))
        lat.append(time.perf_counter() - t)
        sent += len(r.get("Successful", []))
    fill_s = time.perf_counter() - t0
    res["fill_msgs"] = sent
    res["fill_s"] = round(fill_s, 2)
    res["fill_complete"] = sent >= DEPTH
    res["smb_first100_p50_ms"] = ms(pct(lat[:100], 50))
    res["smb_last100_p50_ms"] = ms(pct(lat[-100:], 50))

    # 100 further SendMessageBatch calls with the queue that deep.
    lat = []
    cpu0 = tree_cpu_s(pid)
    t0 = time.perf_counter()
    for _ in range(MORE_CALLS):
        if time.perf_counter() - t0 > PHASE_BUDGET_S:
            break
        t = time.perf_counter()
        r = sqs.send_message_batch(QueueUrl=url, Entries=entries(10))
        lat.append(time.perf_counter() - t)
        sent += len(r.get("Successful", []))
    more_s = time.perf_counter() - t0
    cpu1 = tree_cpu_s(pid)
    res["more_calls"] = len(lat)
    res["more_s"] = round(more_s, 2)
    res["more_p50_ms"], res["more_p99_ms"] = ms(pct(lat, 50)), ms(pct(lat, 99))
    if cpu0 is not None and lat:
        res["srv_cpu_ms_per_smb"] = round((cpu1 - cpu0) * 1000 / len(lat), 2)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    res["approx_visible_after_fill"] = attrs.get("ApproximateNumberOfMessages")
    res["sent_total"] = sent

    # ReceiveMessage (10, VisibilityTimeout=30) with the queue that deep.
    lat, per_call = [], []
    last = {}  # MessageId -> (time of its latest receive, its receipt handle)
    early_dupes = 0  # received again less than 29 s after its previous receive (VT is 30 s)
    cpu0 = tree_cpu_s(pid)
    t0 = time.perf_counter()
    for _ in range(RECV_CALLS):
        if time.perf_counter() - t0 > PHASE_BUDGET_S:
            break
        t = time.perf_counter()
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                   WaitTimeSeconds=0, MessageSystemAttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
        now = time.perf_counter()
        lat.append(now - t)
        per_call.append(len(msgs))
        for m in msgs:
            prev = last.get(m["MessageId"])
            if prev and now - prev[0] < 29:
                early_dupes += 1
            last[m["MessageId"]] = (t, m["ReceiptHandle"])
    cpu1 = tree_cpu_s(pid)
    recv_s = time.perf_counter() - t0
    res["recv_calls"] = len(lat)
    res["recv_s"] = round(recv_s, 1)
    res["recv_p50_ms"], res["recv_p99_ms"] = ms(pct(lat, 50)), ms(pct(lat, 99))
    res["recv_avg_msgs"] = round(sum(per_call) / len(per_call), 2) if per_call else None
    res["recv_dupes"] = early_dupes
    res["recv_late_redeliveries"] = sum(per_call) - len(last)
    if cpu0 is not None and lat:
        res["srv_cpu_ms_per_recv"] = round((cpu1 - cpu0) * 1000 / len(lat), 2)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    now = time.perf_counter()
    ages = [now - tr for tr, _ in last.values()]
    res["approx_not_visible_after_recv"] = attrs.get("ApproximateNumberOfMessagesNotVisible")
    res["in_flight_expected"] = sum(1 for a in ages if a < 30)
    res["in_flight_ambiguous"] = sum(1 for a in ages if 28 <= a <= 32)
    res["received_total"] = len(last)

    # DeleteMessageBatch of the received messages (latest receipt of each), 10 per call.
    receipts = [rh for _, rh in last.values()]
    lat, failed = [], 0
    t0 = time.perf_counter()
    for i in range(0, len(receipts), 10):
        if time.perf_counter() - t0 > PHASE_BUDGET_S:
            break
        batch = [{"Id": f"d{j}", "ReceiptHandle": rh} for j, rh in enumerate(receipts[i:i + 10])]
        t = time.perf_counter()
        r = sqs.delete_message_batch(QueueUrl=url, Entries=batch)
        lat.append(time.perf_counter() - t)
        failed += len(r.get("Failed", []))
    res["del_calls"] = len(lat)
    res["del_deleted"] = min(len(receipts), 10 * len(lat)) - failed
    res["del_p50_ms"], res["del_p99_ms"] = ms(pct(lat, 50)), ms(pct(lat, 99))
    res["del_failed"] = failed
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    res["approx_after_delete"] = (attrs.get("ApproximateNumberOfMessages"),
                                  attrs.get("ApproximateNumberOfMessagesNotVisible"))
    res["rss_mb"] = tree_rss_mb(pid)
    return res


def scale_checks(res):
    """Faithfulness seen in the load phases."""
    out = {}
    if "sent_total" not in res:
        return out
    want_vis = res["fill_msgs"]
    got = res.get("approx_visible_after_fill")
    more_sent = res["sent_total"]
    ok = got is not None and int(got) == more_sent
    out["ApproximateNumberOfMessages"] = ("PASS" if ok else "FAIL",
                                          f"{got} after {more_sent} sent (fill {want_vis})")
    nv = res.get("approx_not_visible_after_recv")
    exp, amb = res["in_flight_expected"], res["in_flight_ambiguous"]
    ok = nv is not None and abs(int(nv) - exp) <= amb
    out["...NotVisible (in flight)"] = ("PASS" if ok else "FAIL",
                                        f"{nv} with {exp} in flight (+-{amb} near their 30 s timeout)")
    late = res["recv_late_redeliveries"]
    out["no re-delivery while in flight"] = (
        "PASS" if res["recv_dupes"] == 0 else "FAIL",
        f"{res['recv_dupes']} re-received within 29 s of a VT=30 receive in {res['recv_calls']} receives"
        + (f" ({late} re-received after their 30 s ran out: fine)" if late else ""))
    full = res.get("recv_avg_msgs")
    out["full batches from a deep queue"] = ("PASS" if full == 10 else "INFO", f"{full} messages per receive (of 10)")
    vis, nvis = res.get("approx_after_delete", (None, None))
    exp_vis = res["sent_total"] - res["del_deleted"]
    ok = res["del_failed"] == 0 and nvis is not None and vis is not None and int(vis) + int(nvis) == exp_vis
    out["DeleteMessageBatch at depth"] = (
        "PASS" if ok else "FAIL",
        f"{res['del_failed']} failed; visible {vis} + in flight {nvis} (want {exp_vis} left)"
        + ("" if res["del_deleted"] == res["received_total"] else
           f" ({res['received_total'] - res['del_deleted']} received not deleted in budget)"))
    return out


def cmd_run(a):
    sqs = client(a.endpoint)
    rec = {"name": a.name, "version": a.version, "startup_s": a.startup_seconds, "endpoint": a.endpoint}
    started = time.perf_counter()
    try:
        sqs.list_queues()
        rec["json_protocol"] = True
    except Exception as e:  # noqa: BLE001
        rec["json_protocol"] = False
        rec["fatal"] = f"JSON protocol (awsJson1_0) ListQueues failed: {err_text(e)}"
    if rec["json_protocol"]:
        rec["checks"] = run_checks(sqs)
        try:
            rec["bench"] = bench(sqs, a.pid)
        except Exception as e:  # noqa: BLE001
            rec["bench_error"] = err_text(e)
        rec["checks"].update(scale_checks(rec.get("bench", {})))
    rec["wall_s"] = round(time.perf_counter() - started, 1)
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"{a.name}: done in {rec['wall_s']} s" + (f" ({rec['fatal']})" if "fatal" in rec else ""))


# --------------------------------------------------------------------------- table


def fmt(v, suffix=""):
    return "-" if v is None else f"{v}{suffix}"


def cmd_table(a):
    recs = [json.loads(line) for line in open(a.results) if line.strip()]
    if not recs:
        print("no results")
        return
    cols = [r["name"] for r in recs]

    def row(label, fn):
        cells = []
        for r in recs:
            try:
                cells.append(fn(r))
            except Exception:  # noqa: BLE001
                cells.append("-")
        return [label] + cells

    def b(r):
        return r.get("bench") or {}

    def pair(x, y):
        return f"{fmt(x)} / {fmt(y)}"

    perf = [
        row("version", lambda r: r.get("version") or "-"),
        row("startup to first answer (s)", lambda r: fmt(r.get("startup_s"))),
        row("speaks JSON protocol (aws-sdk-sqs)", lambda r: "yes" if r.get("json_protocol") else "NO"),
        row(f"fill {DEPTH} msgs, SMB x10 (s)", lambda r: (f"{b(r)['fill_s']}" if b(r)["fill_complete"] else
                                                       f"DNF: {b(r)['fill_msgs']} in {b(r)['fill_s']}")),
        row("  fill rate (msgs/s)", lambda r: f"{b(r)['fill_msgs'] / b(r)['fill_s']:.0f}"),
        row("  SMB p50 first/last 100 of fill (ms)", lambda r: pair(b(r)["smb_first100_p50_ms"],
                                                                    b(r)["smb_last100_p50_ms"])),
        row("100 more SMB at depth (s)", lambda r: (f"{b(r)['more_s']}" if b(r)["more_calls"] == MORE_CALLS else
                                                    f"{b(r)['more_calls']} calls in {b(r)['more_s']}")),
        row("  SMB p50 / p99 at depth (ms)", lambda r: pair(b(r)["more_p50_ms"], b(r)["more_p99_ms"])),
        row("  server CPU per SMB (ms)", lambda r: fmt(b(r).get("srv_cpu_ms_per_smb"))),
        row("ReceiveMessage x10 p50 / p99 (ms)", lambda r: pair(b(r)["recv_p50_ms"], b(r)["recv_p99_ms"])
            + ("" if b(r)["recv_calls"] == RECV_CALLS else f" ({b(r)['recv_calls']} calls)")),
        row("  server CPU per receive (ms)", lambda r: fmt(b(r).get("srv_cpu_ms_per_recv"))),
        row("DeleteMessageBatch p50 / p99 (ms)", lambda r: pair(b(r)["del_p50_ms"], b(r)["del_p99_ms"])
            + f" ({b(r)['del_calls']} calls)"),
        row("server RSS after load (MB)", lambda r: fmt(b(r).get("rss_mb"))),
        row("wall time of this run (s)", lambda r: fmt(r.get("wall_s"))),
    ]
    names = []
    for r in recs:
        for k in (r.get("checks") or {}):
            if k not in names:
                names.append(k)
    faith = [row(n, lambda r, n=n: (r.get("checks") or {}).get(n, ("-",))[0]) for n in names]
    if any(not r.get("json_protocol") for r in recs):
        faith.append(row("(not run: no JSON protocol)", lambda r: "" if r.get("json_protocol") else "n/a"))

    def table(title, rows):
        header = [title] + cols
        widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
        line = "+".join("-" * (w + 2) for w in widths)
        print(line)
        print(" | ".join(str(h).ljust(w) for h, w in zip(header, widths)))
        print(line)
        for rr in rows:
            print(" | ".join(str(c).ljust(w) for c, w in zip(rr, widths)))
        print(line)

    print(f"\nDEPTH={DEPTH}; SMB = SendMessageBatch of 10; latencies seen by boto3 on this machine "
          f"(client and emulator share its {os.cpu_count()} cores)\n")
    table("speed", perf)
    print()
    table("faithfulness", faith)
    print("\nDetails of everything that is not PASS:")
    for r in recs:
        if r.get("fatal"):
            print(f"  {r['name']}: {r['fatal']}")
        if r.get("bench_error"):
            print(f"  {r['name']}: load phase error: {r['bench_error']}")
        for n, (st, detail) in (r.get("checks") or {}).items():
            if st != "PASS":
                print(f"  {r['name']}: {n}: {st}: {detail}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--endpoint", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--pid", type=int, default=0)
    r.add_argument("--version", default="")
    r.add_argument("--startup-seconds", type=float, default=None)
    t = sub.add_parser("table")
    t.add_argument("results")
    a = p.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    else:
        cmd_table(a)


if __name__ == "__main__":
    sys.exit(main())
