# --- ECR: one repository per image, shared by dev and prod (docs/adr/0010-ci-cd.md) -------------------------------
# Tags are IMMUTABLE: an image is pushed once per git SHA and deploys reference that SHA.
locals {
  images = ["airflow", "dagsync", "services"]
}

resource "aws_ecr_repository" "image" {
  for_each = toset(local.images)

  name                 = "${var.org}-airflow-${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.state_bucket.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "image" {
  for_each = aws_ecr_repository.image

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged layers from failed pushes go after 7 days"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.ecr_keep_images} images"
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = var.ecr_keep_images }
        action       = { type = "expire" }
      },
    ]
  })
}
