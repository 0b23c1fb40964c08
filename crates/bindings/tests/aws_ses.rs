//! `bindings.aws.ses` against moto: the sender is verified first (SES refuses unverified
//! senders, moto too), and moto's send quota counts what was sent.
#![cfg(feature = "aws-ses")]

mod aws_support;

use aws_support::{output, request, sdk};
use bindery_bindings::aws::ses::DESCRIPTOR;
use bindery_core::ErrorKind;
use bindery_testkit::moto::Moto;

async fn sent(ses: &aws_sdk_ses::Client) -> f64 {
    ses.get_send_quota()
        .send()
        .await
        .unwrap()
        .sent_last24_hours()
}

#[tokio::test]
async fn sends_with_per_request_overrides_that_do_not_leak() {
    let Some(moto) = Moto::start() else { return };
    let ses = aws_sdk_ses::Client::new(&sdk(&moto).await);
    ses.verify_email_identity()
        .email_address("from@example.com")
        .send()
        .await
        .unwrap();
    let b = output(
        &DESCRIPTOR,
        &moto,
        &[
            ("emailFrom", "from@example.com"),
            ("emailTo", "to@example.com"),
            ("subject", "hi"),
        ],
    )
    .await
    .unwrap();
    b.invoke(request("create", br#""<b>hello</b>""#, &[]))
        .await
        .unwrap();
    assert_eq!(sent(&ses).await, 1.0);

    // an unverified sender for one request fails; the next request uses the component's again
    let err = b
        .invoke(request(
            "create",
            br#""x""#,
            &[("emailFrom", "nobody@example.com")],
        ))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("SES binding error. Sending email failed"),
        "{err}"
    );
    b.invoke(request(
        "create",
        br#""again""#,
        &[("emailCc", "cc@example.com"), ("subject", "other")],
    ))
    .await
    .unwrap();
    // moto counts recipients: To and Cc both got it (daprd would have dropped To for Cc)
    assert_eq!(sent(&ses).await, 3.0);

    let err = b
        .invoke(request("create", b"not quoted", &[]))
        .await
        .unwrap_err();
    assert!(err.message().contains("Can't unquote data field"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(request("create", br#""x""#, &[("subject", "")]))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("subject property not supplied"),
        "{err}"
    );
}
